#include <iostream>
#include <map>
#include <regex>
#include <string>
#include <vector>
#include <functional>
#include <sstream>
int *volatile table;
struct Parser {
    std::map<std::string, std::vector<std::string>> index;
    std::regex re{"([a-z]+)=([0-9]+)"};
    __attribute__((noinline)) int parse(const std::string& line) {
        std::smatch m;
        if (std::regex_search(line, m, re)) index[m[1]].push_back(m[2]);
        return table[index.size()];
    }
};
int main(int argc, char** argv) {
    Parser p;
    std::ostringstream os; os << "key=" << argc;
    std::function<int(const std::string&)> f = [&](const std::string& s) { return p.parse(s); };
    return f(os.str());
}

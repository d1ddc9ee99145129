import java.io.File;
import java.util.List;
import org.graalvm.visualvm.lib.jfluid.heap.Heap;
import org.graalvm.visualvm.lib.jfluid.heap.HeapFactory;
import org.graalvm.visualvm.lib.jfluid.heap.Instance;

/** The VisualVM heap library as a peer: the N objects with the biggest retained sizes, as JSON
 * lines (id, class, shallow, retained), and the time it took. Usage: RetainedPeer DUMP N [IDS]
 * (with IDS, a file of object ids, one per line: those objects too, after the top N). */
public class RetainedPeer {
    public static void main(String[] args) throws Exception {
        long t0 = System.nanoTime();
        Heap heap = HeapFactory.createHeap(new File(args[0]));
        List<Instance> top = heap.getBiggestObjectsByRetainedSize(Integer.parseInt(args[1]));
        long t1 = System.nanoTime();
        for (Instance i : top) {
            System.out.println("{\"id\": " + i.getInstanceId() + ", \"class\": \"" + i.getJavaClass().getName()
                    + "\", \"shallow\": " + i.getSize() + ", \"retained\": " + i.getRetainedSize() + "}");
        }
        if (args.length > 2) {
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Paths.get(args[2]))) {
                Instance i = heap.getInstanceByID(Long.parseLong(line.trim()));
                if (i != null) {
                    System.out.println("{\"id\": " + i.getInstanceId() + ", \"class\": \"" + i.getJavaClass().getName()
                            + "\", \"shallow\": " + i.getSize() + ", \"retained\": " + i.getRetainedSize() + ", \"asked\": true}");
                }
            }
        }
        System.out.println("{\"seconds\": " + (t1 - t0) / 1e9 + ", \"objects\": " + heap.getSummary().getTotalLiveInstances() + "}");
    }
}

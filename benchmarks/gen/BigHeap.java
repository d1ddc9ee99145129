import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Fills the heap with about args[0] MiB of a realistic mix (args[1] percent of it in small
 * map entries, default 50), then waits to be dumped. */
public class BigHeap {
    static final class Entry {
        final long key;
        int hits;
        final String name;
        final byte[] payload;
        Entry(long key, byte[] payload) {
            this.key = key;
            this.name = "k" + (key % 1000);
            this.payload = payload;
        }
    }

    static final Map<Long, Entry> MAP = new HashMap<>();
    static final List<Object> BLOBS = new ArrayList<>();

    public static void main(String[] args) throws Exception {
        long target = Long.parseLong(args[0]) << 20;
        int pct = args.length > 1 ? Integer.parseInt(args[1]) : 50;
        long small = target * pct / 100;  // small objects under MAP (~ 152 bytes per entry)
        long entries = small / 152;
        for (long i = 0; i < entries; i++) {
            MAP.put(i, new Entry(i, new byte[16 + (int) (i % 48)]));
        }
        long left = target - small;
        long i = 0;
        while (left > 0) {              // arrays from 1 KiB to 1 MiB, and object arrays
            int n = 1024 << (int) (i % 11);
            if (i % 3 == 0) {
                Object[] a = new Object[n / 8];
                for (int k = 0; k < a.length; k += 64) a[k] = MAP.get((long) k);
                BLOBS.add(a);
            } else {
                BLOBS.add(new long[n / 8]);
            }
            left -= n;
            i++;
        }
        System.out.println("READY " + ProcessHandle.current().pid());
        System.out.flush();
        while (System.in.read() >= 0) { }
    }
}

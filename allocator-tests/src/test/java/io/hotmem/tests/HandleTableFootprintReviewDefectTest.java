package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import org.junit.jupiter.api.Test;

import java.io.File;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Review of 8fe36eb (HandleTable makes its first chunk, now 16,384 slots, in the constructor).
 *
 * <p>README "Metadata footprint": "Per allocation: one 32-byte handle-table entry, in chunks of 4096 entries
 * (128 KiB) that are allocated on demand". HandleTagTest: tiny allocators cost "about 25 KiB of heap ... each".
 * Since the change every allocator pays 512 KiB of heap (a {@code long[65536]}, 524,304 bytes) when it is built,
 * before and without any allocation; with G1 at heaps under 4 GiB (1 MiB regions) that array is a humongous object
 * and takes a whole 1 MiB region. The documented limit of 4,095 open allocators then needs over 2 GiB of heap
 * (4 GiB of regions under G1 with small heaps) for the tables alone: it is no longer reachable in a 2 GiB heap
 * (the default heap of an 8 GiB machine), where it took about 100 MiB before.
 */
class HandleTableFootprintReviewDefectTest {

    static PageAllocator tiny() {
        return PageAllocator.builder().name("footprint").pageSize(4096).maxOrder(4)
                .backgroundThread(false).jmx(false).threadCacheMaxOrder(-1)
                .node(NodeSpec.fixed(1L << 20))
                .build();
    }

    private static long allocatedBytes() {
        return ((com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean()).getCurrentThreadAllocatedBytes();
    }

    /** Building an allocator that allocates nothing makes no handle-table chunk (chunks are "allocated on demand"). */
    @Test
    void anAllocatorThatAllocatesNothingPaysForNoHandleTableChunk() {
        for (int i = 0; i < 50; i++) { // warm up: classes, JIT
            tiny().close();
        }
        int n = 20;
        long before = allocatedBytes();
        for (int i = 0; i < n; i++) {
            tiny().close();
        }
        long perAllocator = (allocatedBytes() - before) / n;
        System.out.println("heap allocated per tiny allocator built and closed: " + perAllocator + " bytes");
        assertTrue(perAllocator < 128 * 1024, () -> "building (and closing) an allocator that allocates nothing "
                + "allocates " + perAllocator + " bytes of heap; the README says handle-table chunks are allocated "
                + "on demand, and HandleTagTest says a tiny allocator costs about 25 KiB");
    }

    /** Opens tiny allocators until the tag limit refuses one; run in a child JVM with a 2 GiB heap. */
    public static void main(String[] args) {
        List<PageAllocator> open = new ArrayList<>();
        try {
            while (true) {
                try {
                    open.add(tiny());
                } catch (IllegalStateException refused) {
                    System.out.println("LIMIT " + open.size());
                    break;
                }
            }
            long h = open.get(open.size() - 1).allocate(4096, AllocFlags.NONE);
            open.get(open.size() - 1).free(h);
        } catch (OutOfMemoryError e) {
            System.out.println("OOM after " + open.size() + " allocators: " + e);
        } finally {
            for (PageAllocator p : open) {
                p.close();
            }
        }
    }

    /**
     * README "Limits": 4,095 open allocators per JVM, the limit HandleTagTest reaches. With a 2 GiB heap (the JVM's
     * default on an 8 GiB machine) 4,095 tiny allocators no longer fit: each now holds 512 KiB of handle table from
     * the moment it is built.
     */
    @Test
    void theDocumentedLimitOfOpenAllocatorsIsReachableInATwoGiBHeap() throws Exception {
        String java = System.getProperty("java.home") + File.separator + "bin" + File.separator + "java";
        List<String> cmd = List.of(java, "-Xmx2g", "-XX:+UseG1GC", "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), HandleTableFootprintReviewDefectTest.class.getName());
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(5, TimeUnit.MINUTES));
        String text = new String(out, StandardCharsets.UTF_8);
        String result = text.lines().filter(l -> l.startsWith("LIMIT") || l.startsWith("OOM")).findFirst()
                .orElse(text);
        assertEquals("LIMIT 4095", result, "in a child JVM with -Xmx2g");
    }
}

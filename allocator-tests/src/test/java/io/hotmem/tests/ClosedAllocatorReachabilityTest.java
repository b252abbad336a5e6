package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import org.junit.jupiter.api.Test;

import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A closed allocator does not stay on the heap, also when the threads that used it (and so have a thread cache of
 * it) live on. Measured as the heap still used after full collections, per closed allocator.
 */
class ClosedAllocatorReachabilityTest {
    private static final int ALLOCATORS = 300;
    /** Heap a closed allocator may leave behind (the threads' maps may keep an empty entry or so). */
    private static final long MAX_RETAINED_PER_ALLOCATOR = 8 * 1024;

    private static PageAllocator build() {
        return PageAllocator.builder().name("reachability").pageSize(4096).maxOrder(6)
                .backgroundThread(false).jmx(false)
                .node(NodeSpec.fixed(2L << 20))
                .node(NodeSpec.hotRemovable(1L << 20))
                .build();
    }

    /** Allocates and frees small blocks through the calling thread's cache. */
    private static void use(PageAllocator a) {
        long[] hs = new long[8];
        for (int i = 0; i < hs.length; i++) {
            hs[i] = a.allocate(4096L << (i % 5), (i & 1) != 0 ? AllocFlags.HOTREMOVABLE : AllocFlags.NONE);
            a.setLong(hs[i], 0, i);
        }
        for (long h : hs) {
            a.free(h);
        }
    }

    /** Heap used after full collections, once two readings in a row agree within 64 KiB. */
    private static long settledHeapUsed() throws InterruptedException {
        MemoryMXBean m = ManagementFactory.getMemoryMXBean();
        long previous = Long.MAX_VALUE;
        for (int round = 0; round < 20; round++) {
            System.gc();
            long used = m.getHeapMemoryUsage().getUsed();
            if (Math.abs(previous - used) < 64 * 1024) {
                return Math.min(previous, used);
            }
            previous = used;
            Thread.sleep(20); // let reference processing and concurrent cleanup finish between collections
        }
        return previous;
    }

    private static void assertRetainedSmall(String what, long before, long after) {
        long perAllocator = (after - before) / ALLOCATORS;
        System.out.printf("%s: heap %d KiB before, %d KiB after %d closed allocators: %d bytes each%n", what,
                before / 1024, after / 1024, ALLOCATORS, perAllocator);
        assertTrue(perAllocator < MAX_RETAINED_PER_ALLOCATOR, () -> what + ": " + ALLOCATORS + " closed "
                + "allocators left " + (after - before) / 1024 + " KiB on the heap, " + perAllocator
                + " bytes each (at most " + MAX_RETAINED_PER_ALLOCATOR + " allowed)");
    }

    @Test
    void closedAllocatorsUsedByThisThreadAreCollected() throws Exception {
        for (int i = 0; i < 20; i++) { // warm up: classes, JIT, this thread's ThreadLocal map
            PageAllocator a = build();
            try {
                use(a);
            } finally {
                a.close();
            }
        }
        long before = settledHeapUsed();
        for (int i = 0; i < ALLOCATORS; i++) {
            PageAllocator a = build();
            try {
                use(a);
            } finally {
                a.close();
            }
        }
        long after = settledHeapUsed();
        assertRetainedSmall("one thread", before, after);
    }

    @Test
    void closedAllocatorsUsedByAPoolOfLiveThreadsAreCollected() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            runOnEach(pool, 20); // warm up, and start the pool's threads
            long before = settledHeapUsed();
            runOnEach(pool, ALLOCATORS);
            long after = settledHeapUsed();
            assertRetainedSmall("4 pool threads", before, after);
        } finally {
            pool.shutdownNow();
            assertTrue(pool.awaitTermination(10, TimeUnit.SECONDS));
        }
    }

    /** Builds {@code n} allocators one after another; each is used by every one of the 4 pool threads, then closed. */
    private static void runOnEach(ExecutorService pool, int n) throws Exception {
        for (int i = 0; i < n; i++) {
            PageAllocator a = build();
            try {
                List<Future<?>> fs = new ArrayList<>();
                CyclicBarrier all = new CyclicBarrier(4); // so that each of the 4 threads runs one task
                for (int t = 0; t < 4; t++) {
                    fs.add(pool.submit(() -> {
                        all.await(10, TimeUnit.SECONDS);
                        use(a);
                        return null;
                    }));
                }
                for (Future<?> f : fs) {
                    f.get(10, TimeUnit.SECONDS);
                }
            } finally {
                a.close();
            }
        }
    }
}

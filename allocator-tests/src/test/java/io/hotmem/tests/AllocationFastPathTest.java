package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.LeakDetection;
import io.hotmem.LeakReport;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import io.hotmem.StaleHandleException;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Allocate and free take a fast path only when one combined test passes (a size of 1 to 16 pages, no flag but
 * HOTREMOVABLE, ZERO and THISNODE, a known node, the caller's cache at its place in the registry's index); every
 * other allocation goes round it. These tests drive each way round, through the public API: each must get what it
 * asked for (size, zeroed memory, its own memory), be tracked by leak detection as the level says, be cached on
 * free when its size is cached, and refuse bad input with the documented exception.
 */
class AllocationFastPathTest {
    private static final long KIB = 1024;

    private static PageAllocator allocator(LeakDetection level) {
        return PageAllocator.builder().name("fast-path").backgroundThread(false).jmx(false).leakDetection(level)
                .threadCacheMaxOrder(6) // whole blocks of 32 and 64 pages are cached too: classes past the fast test
                .node(NodeSpec.fixed(64L << 20)).node(NodeSpec.hotRemovable(64L << 20)).build();
    }

    /** Sizes on both sides of every edge of the fast test: 1 page, 16 pages, 17 pages, whole blocks of 32/64. */
    private static final long[] SIZES = {1, 4095, 4096, 4097, 16 * 4 * KIB - 1, 16 * 4 * KIB, 16 * 4 * KIB + 1,
            128 * KIB, 256 * KIB, 256 * KIB + 1, 1024 * KIB};
    private static final int[] FLAGS = {AllocFlags.NONE, AllocFlags.HOTREMOVABLE, AllocFlags.ZERO,
            AllocFlags.ZERO | AllocFlags.HOTREMOVABLE, AllocFlags.ALIGNED, AllocFlags.ALIGNED | AllocFlags.ZERO,
            AllocFlags.THISNODE, AllocFlags.THISNODE | AllocFlags.HOTREMOVABLE | AllocFlags.ZERO};

    @Test
    void everySizeAndFlagGetsItsOwnZeroedMemoryOnEitherSideOfTheFastTest() {
        try (PageAllocator a = allocator(LeakDetection.DISABLED)) {
            for (int round = 0; round < 3; round++) { // the second and third rounds reuse cached blocks
                List<Long> live = new ArrayList<>();
                for (long size : SIZES) {
                    for (int flags : FLAGS) {
                        for (int node = -1; node <= 1; node++) {
                            if ((flags & AllocFlags.THISNODE) != 0 && node < 0) {
                                continue; // THISNODE needs a node
                            }
                            if ((flags & (AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE))
                                    == AllocFlags.THISNODE && node == 1) {
                                continue; // node 1 has only a MOVABLE zone
                            }
                            long h = node < 0 ? a.allocate(size, flags) : a.allocate(size, flags, node);
                            assertEquals(size, a.sizeOf(h));
                            if ((flags & AllocFlags.ZERO) != 0) {
                                long nonZero = a.readAsLong(h, s -> s.elements(JAVA_BYTE)
                                        .filter(x -> x.get(JAVA_BYTE, 0) != 0).count());
                                assertEquals(0, nonZero, "ZERO allocation of " + size + " bytes, flags "
                                        + AllocFlags.toString(flags) + ", round " + round);
                            }
                            a.setByte(h, 0, (byte) 0x5a);
                            a.setByte(h, size - 1, (byte) 0x5a);
                            live.add(h);
                        }
                    }
                }
                for (long h : live) {
                    assertEquals((byte) 0x5a, a.getByte(h, 0), "another allocation wrote into this one");
                    assertEquals((byte) 0x5a, a.getByte(h, a.sizeOf(h) - 1));
                }
                a.checkInvariants();
                for (long h : live) {
                    a.free(h);
                    assertThrows(StaleHandleException.class, () -> a.getByte(h, 0));
                }
                a.checkInvariants();
            }
        }
    }

    /** A cached size past the fast test (whole blocks of 32 and 64 pages) is still served by and freed to the cache. */
    @Test
    void wholeBlocksPastTheFastTestAreStillCached() {
        try (PageAllocator a = allocator(LeakDetection.DISABLED)) {
            a.trimCaches();
            long first = a.allocate(128 * KIB, AllocFlags.HOTREMOVABLE);
            // Through the cache: its refill took a batch of two blocks of 32 pages, and one is left.
            assertEquals(32, a.trimCaches(), "the allocation of 128 KiB was served by the thread cache");
            a.free(first);
            for (long size : new long[] {128 * KIB, 256 * KIB}) {
                a.trimCaches();
                long h = a.allocate(size, AllocFlags.HOTREMOVABLE);
                a.free(h);
                long pages = a.trimCaches();
                assertTrue(pages >= size / (4 * KIB), "a free of " + size + " bytes went to the thread cache: "
                        + pages + " pages cached");
            }
            long h = a.allocate(256 * KIB + 1, AllocFlags.HOTREMOVABLE); // not a whole block: never cached
            a.trimCaches();
            a.free(h);
            assertEquals(0, a.trimCaches(), "a run of 65 pages is not cached");
        }
    }

    /** PARANOID tracks every allocation, whichever way it went: through the fast test or round it. */
    @Test
    void paranoidTracksEveryAllocationOnEitherSideOfTheFastTest() throws Exception {
        try (PageAllocator a = allocator(LeakDetection.PARANOID)) {
            ExecutorService pool = Executors.newFixedThreadPool(3);
            try {
                List<Future<Integer>> done = new ArrayList<>();
                for (int t = 0; t < 3; t++) {
                    done.add(pool.submit(() -> {
                        int n = 0;
                        for (long size : SIZES) {
                            for (int flags : new int[] {AllocFlags.NONE, AllocFlags.HOTREMOVABLE, AllocFlags.ALIGNED}) {
                                a.allocate(size, flags);
                                n++;
                            }
                        }
                        return n;
                    }));
                }
                int made = 0;
                for (Future<Integer> f : done) {
                    made += f.get();
                }
                LeakReport r = a.leaks();
                long tracked = r.liveAllocations().stream().mapToLong(LeakReport.Site::count).sum();
                assertEquals(made, tracked, "every allocation is tracked at PARANOID");
            } finally {
                pool.shutdownNow();
            }
        }
    }

    @Test
    void badInputRoundTheFastTestStillGetsItsException() {
        try (PageAllocator a = allocator(LeakDetection.DISABLED)) {
            for (long size : new long[] {0, -1, Long.MIN_VALUE, a.maxAllocationBytes() + 1, Long.MAX_VALUE}) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> a.allocate(size, AllocFlags.HOTREMOVABLE));
                assertTrue(e.getMessage().contains(Long.toString(size)), e.getMessage());
            }
            IllegalArgumentException flags = assertThrows(IllegalArgumentException.class,
                    () -> a.allocate(4096, 1 << 20));
            assertTrue(flags.getMessage().contains("0x100000"), flags.getMessage());
            IllegalArgumentException node = assertThrows(IllegalArgumentException.class,
                    () -> a.allocate(4096, AllocFlags.NONE, 2));
            assertTrue(node.getMessage().contains("unknown node 2"), node.getMessage());
            a.checkInvariants();
        }
    }
}

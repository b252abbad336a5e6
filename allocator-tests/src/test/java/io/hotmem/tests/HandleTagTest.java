package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import io.hotmem.StaleHandleException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * A handle names one allocation of one allocator. While an allocator is alive no other allocator accepts its
 * handles, and no other allocator hands out a handle equal to one of its; a handle of a closed allocator is
 * rejected by the allocators built after it.
 *
 * <p>Allocators carry a tag in their handles. The tests build more allocators than there are tags (4095 today),
 * one after another, so whatever tag the first one got, one of the later ones gets it again if tags wrap.
 */
class HandleTagTest {
    /** More allocators than there are 12-bit tags (1..4095), with a margin. */
    private static final int ALLOCATORS = 4100;

    /**
     * A tiny allocator, cheap to build and close thousands of times. No thread cache: the handle encoding does not
     * depend on it, and thousands of closed allocators' caches would otherwise pile up in this thread's
     * ThreadLocal map (see {@code ClosedAllocatorReachabilityTest}).
     */
    private static PageAllocator tiny(String name) {
        return PageAllocator.builder().name(name).pageSize(4096).maxOrder(4)
                .backgroundThread(false).jmx(false).threadCacheMaxOrder(-1)
                .node(NodeSpec.fixed(1L << 20))
                .build();
    }

    @Test
    void noOtherAllocatorAcceptsOrReproducesALiveAllocatorsHandle() {
        PageAllocator a = tiny("tag-a");
        try {
            long hA = a.allocate(4096, AllocFlags.NONE);
            long hA2 = a.allocate(4096, AllocFlags.HOTREMOVABLE);
            a.setLong(hA, 0, 0xA11CEL);
            for (int i = 1; i <= ALLOCATORS; i++) {
                PageAllocator b = tiny("tag-b");
                try {
                    long hB = b.allocate(4096, AllocFlags.NONE); // B's first handle: the same slot as hA
                    long hB2 = b.allocate(4096, AllocFlags.HOTREMOVABLE);
                    int n = i;
                    assertNotEquals(hA, hB, () -> "allocator #" + n + " built after A (alive) handed out A's handle "
                            + "0x" + Long.toHexString(hA));
                    assertNotEquals(hA2, hB2, () -> "allocator #" + n + " built after A (alive) handed out A's "
                            + "handle 0x" + Long.toHexString(hA2));
                    assertThrows(StaleHandleException.class, () -> b.getLong(hA, 0), () -> "allocator #" + n
                            + " built after A (alive) accepts A's handle 0x" + Long.toHexString(hA));
                    assertThrows(StaleHandleException.class, () -> b.free(hA2), () -> "allocator #" + n
                            + " built after A (alive) accepts A's handle 0x" + Long.toHexString(hA2));
                    assertThrows(StaleHandleException.class, () -> a.getLong(hB, 0), () -> "A accepts handle 0x"
                            + Long.toHexString(hB) + " of allocator #" + n);
                } finally {
                    b.close();
                }
            }
            assertEquals(0xA11CEL, a.getLong(hA, 0));
            a.free(hA);
            a.free(hA2);
        } finally {
            a.close();
        }
    }

    /**
     * Each allocator is closed with a live allocation; the next one must reject that handle. One of the next 4095
     * allocators gets the closed one's tag again if tags wrap (and right away if freed tags are reused at once).
     */
    @Test
    void aClosedAllocatorsHandleIsRejectedByTheAllocatorsBuiltAfterIt() {
        PageAllocator c = tiny("tag-c");
        long hC;
        try {
            hC = c.allocate(4096, AllocFlags.NONE);
            c.setLong(hC, 0, 42L);
        } finally {
            c.close();
        }
        long previous = 0; // the handle of the allocator closed just before the current one
        for (int i = 1; i <= ALLOCATORS; i++) {
            PageAllocator b = tiny("tag-b");
            try {
                long hB = b.allocate(4096, AllocFlags.NONE);
                int n = i;
                long prev = previous;
                assertThrows(StaleHandleException.class, () -> b.getLong(hC, 0), () -> "allocator #" + n
                        + " built after C was closed accepts C's handle 0x" + Long.toHexString(hC)
                        + (hB == hC ? " (its own first handle is equal to it)" : ""));
                if (prev != 0) {
                    assertThrows(StaleHandleException.class, () -> b.getLong(prev, 0), () -> "allocator #" + n
                            + " accepts handle 0x" + Long.toHexString(prev) + " of the allocator closed just "
                            + "before it was built");
                }
                previous = hB;
            } finally {
                b.close();
            }
        }
    }

    /**
     * At most 4,095 allocators are open at once: one more is refused with a clear IllegalStateException (and
     * nothing of it stays open), and closing any one makes room again. Builds about 4,000 tiny allocators
     * (about 60-70 KiB of heap each, built and closed: measured by HandleTableFootprintReviewDefectTest).
     */
    @Test
    void theLimitOfOpenAllocatorsIsEnforcedAndClosingMakesRoom() {
        java.util.List<PageAllocator> open = new java.util.ArrayList<>();
        try {
            IllegalStateException refused = null;
            while (refused == null) {
                try {
                    open.add(tiny("tag-limit"));
                } catch (IllegalStateException e) {
                    refused = e;
                }
                if (open.size() > 4095) {
                    throw new AssertionError("more than 4095 allocators open at once: " + open.size());
                }
            }
            String message = refused.getMessage();
            org.junit.jupiter.api.Assertions.assertTrue(message.contains("4095 allocators are open"), message);
            PageAllocator last = open.get(open.size() - 1);
            long h = last.allocate(4096, AllocFlags.NONE);
            last.setLong(h, 0, 42);
            assertEquals(42, last.getLong(h, 0), "the open allocators keep working at the limit");
            open.remove(open.size() / 2).close();
            PageAllocator again = tiny("tag-limit-again");
            open.add(again);
            long h2 = again.allocate(4096, AllocFlags.NONE);
            assertThrows(StaleHandleException.class, () -> last.getLong(h2, 0),
                    "the new allocator's handle is not accepted by another open one");
        } finally {
            for (PageAllocator p : open) {
                p.close();
            }
        }
    }
}

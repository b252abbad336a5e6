package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.AllocationFailedException;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An allocation that fails because no zone of its zonelist could ever serve it (the only node it may use is
 * DISABLED, or it is larger than every zone) has nothing to gain from the blocks in threads' caches: it must not
 * take them back. Only an allocation that a zone of its list could serve, given the cached blocks, may.
 */
class FailedAllocationCacheTest {
    private PageAllocator a;
    private Thread other;
    private final CountDownLatch release = new CountDownLatch(1);

    @BeforeEach
    void build() throws Exception {
        a = PageAllocator.builder().name("failed-alloc").pageSize(4096).maxOrder(10)
                .backgroundThread(false).jmx(false) // no agent: it would take back idle caches by itself
                .node(NodeSpec.fixed(2L << 20))                        // node 0: Normal[0], 512 pages
                .node(NodeSpec.hotRemovable(2L << 20).startDisabled()) // node 1: Movable[1], DISABLED
                .build();
        // Another thread (alive for the whole test) allocates and frees a small block: its cache keeps pages.
        CountDownLatch cached = new CountDownLatch(1);
        AtomicReference<Throwable> failed = new AtomicReference<>();
        other = new Thread(() -> {
            try {
                long h = a.allocate(4096, AllocFlags.NONE, 0);
                a.free(h);
            } catch (Throwable e) {
                failed.set(e);
            } finally {
                cached.countDown();
            }
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "cache-owner");
        other.start();
        assertTrue(cached.await(10, TimeUnit.SECONDS));
        assertNull(failed.get());
    }

    @AfterEach
    void close() throws Exception {
        release.countDown();
        other.join(10_000);
        a.close();
    }

    private long cachedInZone0() {
        return a.status().zone(0).cachedPages();
    }

    private void assertCachesKept(Runnable failingCall, String what) {
        long before = cachedInZone0();
        assertTrue(before > 0, "the other thread's cache holds pages of zone 0: " + a.status().render());
        for (int i = 0; i < 100; i++) {
            failingCall.run();
        }
        assertEquals(before, cachedInZone0(), what + " took back another thread's cached pages, which could not "
                + "have served it");
    }

    @Test
    void aThisNodeAllocationFromADisabledNodeLeavesOtherCachesAlone() {
        assertCachesKept(() -> assertEquals(PageAllocator.NULL_HANDLE,
                a.tryAllocate(4096, AllocFlags.THISNODE, 1)), "tryAllocate(4096, THISNODE, disabled node 1)");
        assertCachesKept(() -> assertEquals(PageAllocator.NULL_HANDLE,
                        a.tryAllocate(4096, AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE, 1)),
                "tryAllocate(4096, HOTREMOVABLE|THISNODE, disabled node 1)");
        assertCachesKept(() -> assertThrows(AllocationFailedException.class,
                () -> a.allocate(65536, AllocFlags.THISNODE, 1)), "allocate(64 KiB, THISNODE, disabled node 1)");
    }

    @Test
    void anAllocationLargerThanEveryZoneLeavesOtherCachesAlone() {
        long tooLarge = 4L << 20; // 1024 pages (maxOrder 10); every zone has 512
        assertTrue(tooLarge <= a.maxAllocationBytes());
        assertCachesKept(() -> assertEquals(PageAllocator.NULL_HANDLE, a.tryAllocate(tooLarge, AllocFlags.NONE, 0)),
                "tryAllocate(4 MiB) with every zone 2 MiB");
        assertCachesKept(() -> assertThrows(AllocationFailedException.class,
                () -> a.allocate(tooLarge, AllocFlags.HOTREMOVABLE)), "allocate(4 MiB, HOTREMOVABLE)");
    }

    /** The other side: an allocation that the cached blocks can serve does take them back (Linux drains its lists). */
    @Test
    void anAllocationThatCachedBlocksCanServeTakesThemBack() {
        long before = cachedInZone0();
        assertTrue(before > 0);
        long big = a.allocate(2L << 20, AllocFlags.NONE, 0); // the whole zone: only with the cached pages back
        assertEquals(0, cachedInZone0());
        a.free(big);
    }
}

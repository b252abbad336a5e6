package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.MemoryStatus;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import io.hotmem.ZoneStatus;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Per-thread caches: what they keep, when they give it back, and that nobody else's memory is lost to them. */
class ThreadCacheTest {
    private static final long MIB = 1L << 20;

    private static PageAllocator.Builder builder() {
        return PageAllocator.builder().node(NodeSpec.fixed(8 * MIB)).node(NodeSpec.hotRemovable(8 * MIB));
    }

    private static long cached(PageAllocator a) {
        return a.status().nodes().stream().flatMap(n -> n.zones().stream()).mapToLong(ZoneStatus::cachedPages).sum();
    }

    private static void allFree(PageAllocator a) {
        for (var n : a.status().nodes()) {
            for (ZoneStatus z : n.zones()) {
                assertEquals(z.presentPages(), z.freePages(), "all free: " + z);
                assertEquals(0, z.activePages(), z.toString());
            }
        }
    }

    @Test
    void freesGoToTheThreadsCacheAndTrimGivesThemBack() {
        try (PageAllocator a = builder().build()) {
            long h = a.allocate(4096, AllocFlags.HOTREMOVABLE, 1);
            a.free(h);
            ZoneStatus z = a.status().zone(1);
            assertTrue(z.cachedPages() > 0, "the refill batch sits in this thread's cache: " + z);
            assertEquals(z.presentPages(), z.freePages(), "cached pages are free pages");
            long again = a.allocate(4096, AllocFlags.HOTREMOVABLE, 1);
            assertEquals(HandleSlot.of(h), HandleSlot.of(again), "the cache hands back the same slot (LIFO)");
            a.free(again);
            long given = a.trimCaches();
            assertEquals(z.cachedPages(), given, "trimCaches returns what was cached");
            assertEquals(0, cached(a));
            allFree(a);
            a.checkInvariants();
        }
    }

    @Test
    void largerBlocksThanTheLimitBypassTheCache() {
        try (PageAllocator a = builder().threadCacheMaxOrder(1).build()) {
            long h = a.allocate(16 * 1024, AllocFlags.NONE, 0); // order 2
            a.free(h);
            assertEquals(0, cached(a));
            h = a.allocate(8 * 1024, AllocFlags.NONE, 0); // order 1
            a.free(h);
            assertTrue(cached(a) > 0);
        }
        try (PageAllocator a = builder().threadCacheMaxOrder(-1).build()) {
            a.free(a.allocate(4096, AllocFlags.NONE, 0));
            assertEquals(0, cached(a), "caches off");
        }
    }

    @Test
    void virtualThreadsDoNotCache() throws Exception {
        try (PageAllocator a = builder().build()) {
            Thread t = Thread.ofVirtual().start(() -> {
                for (int i = 0; i < 100; i++) {
                    a.free(a.allocate(4096, AllocFlags.HOTREMOVABLE, 1));
                }
            });
            t.join();
            assertEquals(0, cached(a));
        }
    }

    @Test
    void anAllocationTakesMemoryFromOtherThreadsCaches() throws Exception {
        try (PageAllocator a = PageAllocator.builder().node(NodeSpec.fixed(2 * MIB)).build()) {
            // Another thread fills its cache with most of the node, then goes idle (alive).
            Object park = new Object();
            java.util.concurrent.CountDownLatch filled = new java.util.concurrent.CountDownLatch(1);
            Thread filler = Thread.ofPlatform().start(() -> {
                List<Long> hs = new ArrayList<>();
                long h;
                while ((h = a.tryAllocate(4096, AllocFlags.NONE, 0)) != PageAllocator.NULL_HANDLE) {
                    hs.add(h);
                }
                hs.forEach(a::free);
                filled.countDown();
                synchronized (park) {
                    try {
                        park.wait();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            });
            filled.await();
            assertTrue(cached(a) >= 8, "the filler keeps 1/64 of the node's pages: " + a.status().render());
            long big = a.allocate(2 * MIB, AllocFlags.NONE, 0);
            assertNotEquals(PageAllocator.NULL_HANDLE, big, "the whole node, once the filler's cache is taken");
            a.free(big);
            filler.interrupt();
            filler.join();
            a.checkInvariants();
        }
    }

    @Test
    void deadThreadsCachesAreReclaimedAsAPoolGrowsAndShrinks() throws Exception {
        // Room for all 8 threads' live blocks and caches at once (about 8 MiB live at the peak): this is about
        // reclaiming caches, not about running out of memory.
        try (PageAllocator a = PageAllocator.builder().backgroundThread(false)
                .node(NodeSpec.fixed(32 * MIB)).node(NodeSpec.hotRemovable(32 * MIB)).build()) {
            for (int round = 0; round < 20; round++) {
                ExecutorService pool = Executors.newFixedThreadPool(8);
                List<Future<?>> fs = new ArrayList<>();
                for (int t = 0; t < 8; t++) {
                    fs.add(pool.submit(() -> {
                        List<Long> hs = new ArrayList<>();
                        for (int i = 0; i < 100; i++) {
                            hs.add(a.allocate(4096 << (i % 3), AllocFlags.HOTREMOVABLE, 1));
                        }
                        hs.forEach(a::free);
                    }));
                }
                for (Future<?> f : fs) {
                    f.get();
                }
                pool.shutdown();
                assertTrue(pool.awaitTermination(10, TimeUnit.SECONDS));
            }
            // 160 threads came and went, each leaving a cache behind: registering new caches reclaims dead ones
            // along the way, and trimCaches takes the rest.
            a.trimCaches();
            assertEquals(0, cached(a));
            allFree(a);
            a.checkInvariants();
        }
    }

    @Test
    void theAgentTakesBackDeadAndIdleThreadsCaches() throws Exception {
        try (PageAllocator a = builder().purgeAfter(Duration.ofMillis(100)).build()) {
            Thread dead = Thread.ofPlatform().start(() -> a.free(a.allocate(4096, AllocFlags.HOTREMOVABLE, 1)));
            dead.join();
            Object park = new Object();
            Thread idle = Thread.ofPlatform().start(() -> {
                a.free(a.allocate(8192, AllocFlags.NONE, 0));
                synchronized (park) {
                    try {
                        park.wait();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            });
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (cached(a) == 0 && System.nanoTime() < deadline) {
                Thread.sleep(1);
            }
            while (cached(a) > 0 && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            assertEquals(0, cached(a), "the agent gave back a dead and an idle thread's cache: "
                    + a.status().render());
            assertTrue(idle.isAlive());
            idle.interrupt();
            idle.join();
            allFree(a);
        }
    }

    @Test
    void aDisabledNodeIsInNoCacheAndAReplugGetsNoOldBlock() {
        try (PageAllocator a = builder().build()) {
            long h = a.allocate(4096, AllocFlags.HOTREMOVABLE, 1);
            a.setLong(h, 0, 7);
            long other = a.allocate(4096, AllocFlags.HOTREMOVABLE, 1);
            a.free(other);
            assertTrue(a.status().zone(1).cachedPages() > 0);
            a.disable(1);
            assertEquals(0, a.status().zone(1).cachedPages(), "disable empties every cache of the node");
            long elsewhere = a.allocate(4096, AllocFlags.HOTREMOVABLE, 1);
            assertEquals(0, a.nodeOf(elsewhere), "a disabled node hands out nothing, cached or not");
            assertTrue(a.drain(1, Duration.ofSeconds(5)).complete());
            assertEquals(0, a.nodeOf(h));
            assertEquals(7, a.getLong(h, 0));
            a.unplug(1);
            a.plug(1);
            a.enable(1);
            MemoryStatus st = a.status();
            assertEquals(st.zone(1).presentPages(), st.zone(1).freePages(), "a new node: " + st.render());
            long fresh = a.allocate(4096, AllocFlags.HOTREMOVABLE | AllocFlags.ZERO, 1);
            assertEquals(1, a.nodeOf(fresh));
            assertEquals(0, a.getLong(fresh, 0));
            a.checkInvariants();
            a.free(fresh);
            a.free(elsewhere);
            a.free(h);
        }
    }

    @Test
    void builderRejectsBadCacheAndPurgeSettings() {
        var e = assertThrows(IllegalArgumentException.class, () -> PageAllocator.builder().threadCacheMaxOrder(-2));
        assertTrue(e.getMessage().contains("-2"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> PageAllocator.builder().threadCacheMaxOrder(21));
        assertTrue(e.getMessage().contains("21"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> PageAllocator.builder().purgeAfter(Duration.ofMillis(-1)));
        assertTrue(e.getMessage().contains("PT-0.001S"), e.getMessage());
        assertThrows(NullPointerException.class, () -> PageAllocator.builder().purgeAfter(null));
        for (double bad : new double[]{-0.01, Double.NaN, Double.NEGATIVE_INFINITY}) {
            e = assertThrows(IllegalArgumentException.class, () -> PageAllocator.builder().residentFreeLimit(bad));
            assertTrue(e.getMessage().contains(String.valueOf(bad)), e.getMessage());
        }
        PageAllocator.builder().residentFreeLimit(0).residentFreeLimit(Double.POSITIVE_INFINITY); // both fine
    }

    /** The slot of a handle: its low 24 bits (see the handle layout in the engine). */
    private static final class HandleSlot {
        static long of(long handle) {
            return handle & ((1 << 24) - 1);
        }
    }
}

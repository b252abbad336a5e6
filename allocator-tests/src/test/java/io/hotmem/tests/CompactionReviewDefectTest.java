package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import io.hotmem.Pin;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Defects found reviewing 5643190 (exact runs, compaction, buddyinfo); each test fails on that commit. */
class CompactionReviewDefectTest {
    private static final int HOT = AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE;

    /**
     * Direct compaction promises at most 20 ms (Compactor.DIRECT_BUDGET_NANOS), but the deadline and the "block
     * formed" check are only made between batches of 64, and a batch frees its sources only after all its copies:
     * 64 half-max-order blocks are copied before the allocation returns.
     */
    @Test
    void directCompactionStaysWithinItsBudget() {
        int pageSize = 16384;
        int maxOrder = 10;
        long block = (long) pageSize << maxOrder;
        try (PageAllocator a = PageAllocator.builder().name("rev12-budget").pageSize(pageSize).maxOrder(maxOrder)
                .backgroundThread(false).jmx(false)
                .node(NodeSpec.fixed(block))
                .node(NodeSpec.hotRemovable(128 * block)).build()) {
            List<Long> halves = new ArrayList<>();
            for (int i = 0; i < 256; i++) {
                halves.add(a.allocate(block / 2, HOT, 1));
            }
            for (int i = 1; i < 256; i += 2) {
                a.free(halves.get(i)); // every max-order block half free: 64 blocks' worth free, none whole
            }
            int zone = a.zoneOf(halves.get(0));
            assertTrue(a.status().zone(zone).largestFreeOrder() < maxOrder);
            long t0 = System.nanoTime();
            long h = a.tryAllocate(block, HOT, 1);
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertNotEquals(PageAllocator.NULL_HANDLE, h);
            assertTrue(ms < 100, "direct compaction held the allocation " + ms + " ms, budget 20 ms");
        }
    }

    /**
     * A compaction takes its targets while the zone is open; the node is then disabled and every allocation freed:
     * unplug must succeed, but it meets the compaction's targets ("holds N live allocations"). A race (the
     * compaction frees its targets soon after), so it is tried a few times; it fails in most runs here.
     */
    @Test
    void unplugAfterDisableAndFreeingEverythingIsNotRefusedForACompactionsTargets() throws Exception {
        int maxOrder = 10;
        long block = 16384L << maxOrder; // 16 MiB: the compaction's batch of 64 copies takes a good while
        List<String> refusals = new ArrayList<>();
        for (int attempt = 0; attempt < 6 && refusals.isEmpty(); attempt++) {
            try (PageAllocator a = PageAllocator.builder().name("rev12-unplug").pageSize(16384).maxOrder(maxOrder)
                    .backgroundThread(false).jmx(false).compaction(false)
                    .node(NodeSpec.fixed(block))
                    .node(NodeSpec.hotRemovable(128 * block)).build()) {
                List<Long> hs = new ArrayList<>();
                for (int i = 0; i < 64; i++) {
                    long h = a.allocate(block, HOT, 1);
                    a.setLong(h, block - 8, i);
                    hs.add(h);
                }
                int zone = a.zoneOf(hs.get(0));
                long live = a.status().zone(zone).activePages();
                Thread c = new Thread(() -> {
                    try {
                        a.compact(zone, Duration.ofSeconds(10));
                    } catch (IllegalStateException expected) {
                        // "node 1 was disabled while it ran"
                    }
                });
                c.start();
                long until = System.nanoTime() + 5_000_000_000L;
                while (a.status().zone(zone).activePages() == live && System.nanoTime() < until) {
                    Thread.onSpinWait();
                }
                assertTrue(a.status().zone(zone).activePages() > live, "the compaction took its targets");
                a.disable(1);
                for (int i = hs.size() - 1; i >= 0; i--) {
                    a.free(hs.get(i));
                }
                try {
                    a.unplug(1); // nothing is allocated on node 1 any more
                } catch (IllegalStateException e) {
                    refusals.add("attempt " + attempt + ": " + e.getMessage());
                } finally {
                    c.join(10_000);
                }
            }
        }
        assertEquals(List.of(), refusals, "unplug of a disabled node whose every allocation was freed");
    }

    /**
     * The agent's purge walk goes on, after each bounded zone-lock hold, from the page where the last hold stopped.
     * A free between two holds can merge that page into a lower buddy, so it is no longer a head: the walk then
     * steps by {@code next[page]} (a stale free-list link) and lands inside an untouched block, where it steps by 0
     * for ever. This replays the agent's loop (Housekeeper.round) with its own constants, through reflection, with
     * the free between the first two holds.
     */
    @Test
    void thePurgeWalkResumedAtAPageThatMergedIntoALowerBuddyStillReachesTheZonesEnd() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(System.getProperty("os.name").toLowerCase().contains("linux"));
        try (PageAllocator a = PageAllocator.builder().name("rev12-purge").pageSize(4096).maxOrder(10)
                .backing(io.hotmem.MemoryBacking.MMAP).backgroundThread(false).jmx(false).compaction(false)
                .threadCacheMaxOrder(-1)
                .node(NodeSpec.fixed(64L << 20)).build()) {
            Class<?> hk = Class.forName("io.hotmem.internal.Housekeeper");
            int headsPerHold = (int) field(hk, null, "HEADS_PER_HOLD");
            long pagesPerHold = (long) field(hk, null, "PAGES_PER_HOLD");
            Object ctx = field(a.getClass(), a, "ctx");
            Object topology = field(ctx.getClass(), ctx, "topology");
            Object zone = ((Object[]) field(topology.getClass(), topology, "zones"))[0];
            Class<?> zc = zone.getClass();
            java.util.concurrent.locks.ReentrantLock lock =
                    (java.util.concurrent.locks.ReentrantLock) field(zc, zone, "lock");
            int pages = (int) field(zc, zone, "pages");
            java.lang.reflect.Method purge = zc.getDeclaredMethod("purgeLocked", int.class, int.class, int.class,
                    long.class, long[].class);
            purge.setAccessible(true);

            // Pages 0 .. headsPerHold + 15, one page each, in address order.
            int n = headsPerHold + 16;
            long[] h = new long[n];
            for (int i = 0; i < n; i++) {
                h[i] = a.allocate(4096, AllocFlags.NONE, 0);
            }
            long base;
            try (Pin p = a.pin(h[0])) {
                base = p.segment().address();
            }
            for (int i = 0; i < n; i++) {
                try (Pin p = a.pin(h[i])) {
                    assertEquals((long) i * 4096, p.segment().address() - base, "page of allocation " + i);
                }
            }
            int p = headsPerHold + 1; // where the first hold stops: [0,1] free, then headsPerHold - 1 used heads
            a.free(h[0]);
            a.free(h[1]);
            a.free(h[p + 2]);
            a.free(h[p]); // free head p, its free-list link pointing at page p + 2
            long[] purged = new long[1];
            int page = 0;
            int holds = 0;
            while (page < pages && holds < 1000) {
                lock.lock();
                try {
                    page = (int) purge.invoke(zone, page, 0, headsPerHold, pagesPerHold, purged);
                } finally {
                    lock.unlock();
                }
                if (holds++ == 0) {
                    assertEquals(p, page, "the first hold stops at page " + p);
                    a.free(h[p - 1]); // between two holds: page p merges into the block at p - 1
                }
            }
            assertTrue(page >= pages, "the agent's purge walk is stuck at page " + page + " after " + holds
                    + " holds (zone of " + pages + " pages)");
            a.checkInvariants();
        }
    }

    private static Object field(Class<?> c, Object o, String name) throws ReflectiveOperationException {
        java.lang.reflect.Field f = c.getDeclaredField(name);
        f.setAccessible(true);
        return f.get(o);
    }

    /**
     * Linux prints {@code "Node %d, zone %8s "} and then {@code "%6lu "} per order (mm/vmstat.c frag_show_print):
     * every count is followed by a blank, so the line ends in one. The view claims that format but drops the
     * separator after the last count (minor: byte-for-byte consumers of /proc/buddyinfo text differ).
     */
    @Test
    void buddyinfoLinesAreByteForByteLinuxFormat() {
        try (PageAllocator a = PageAllocator.builder().name("rev12-buddy").pageSize(4096).maxOrder(3)
                .backgroundThread(false).jmx(false).node(NodeSpec.fixed(64 * 4096)).build()) {
            long h = a.allocate(5 * 4096, AllocFlags.NONE, 0);
            io.hotmem.ZoneStatus z = a.status().zone(0);
            StringBuilder linux = new StringBuilder(String.format(java.util.Locale.ROOT, "Node %d, zone %8s ", 0,
                    "Normal"));
            for (int c : z.freeBlocks()) {
                linux.append(String.format(java.util.Locale.ROOT, "%6d ", c));
            }
            assertEquals(linux + "\n", a.status().renderBuddyInfo());
            a.free(h);
        }
    }
}

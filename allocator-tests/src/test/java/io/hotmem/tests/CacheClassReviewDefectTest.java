package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import io.hotmem.ZoneStatus;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Defects found reviewing 4bd011b (thread caches keep exact runs, one size class per run of 1-16 pages). Each test
 * fails on that commit.
 */
class CacheClassReviewDefectTest {
    private static final long MIB = 1L << 20;
    private static final int PAGE = 4096;

    /** Allocates {@code count} runs of {@code pages} pages on zone 0 and frees them all, on this thread. */
    private static void churn(PageAllocator a, int pages, int count) {
        List<Long> hs = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            hs.add(a.allocate((long) pages * PAGE, AllocFlags.NONE, 0));
        }
        for (long h : hs) {
            a.free(h);
        }
    }

    /**
     * Builder.threadCacheMaxOrder: "each thread keeps at most about 1 MiB per zone and order"; capacityFor: "caching
     * exact runs keeps about as much memory as caching whole blocks did". In a 64 MiB zone (cache budget 256 pages)
     * one thread caches 3-page runs up to the whole order-2 budget (85 runs, 255 pages) and 4-page blocks up to the
     * whole budget again (64 blocks, 256 pages): about 2 MiB of order 2 in one thread's cache. The exact classes of
     * an order share its budget among themselves, but not with the order's whole-block class.
     */
    @Test
    @Timeout(10)
    void oneOrdersExactRunsAndWholeBlocksTogetherKeepTwiceTheOrdersBudget() {
        try (PageAllocator a = PageAllocator.builder().pageSize(PAGE).threadCacheMaxOrder(4).backgroundThread(false)
                .node(NodeSpec.fixed(64 * MIB)).build()) {
            churn(a, 3, 65);
            churn(a, 4, 64);
            ZoneStatus z = a.status().zone(0);
            long cachedBytes = z.cachedPages() * PAGE;
            assertTrue(cachedBytes <= MIB + MIB / 4, "one thread caches " + cachedBytes
                    + " bytes of order-2 runs from one zone, documented: at most about 1 MiB per zone and order: " + z);
        }
    }

    /**
     * The floor of 2 runs per class applies to every one of the 16 exact classes: in a 4 MiB zone (cache budget 16
     * pages per order, so about 80 pages for orders 0-4; the whole-block cache of before held at most 96 with its
     * floor of 2 blocks) one thread's cache holds a third of the zone, the 7 classes of 9-15 pages alone 2 runs
     * each (168 pages) where their shared budget is 16 pages.
     */
    @Test
    @Timeout(10)
    void smallZoneOneThreadCachesAThirdOfTheZone() {
        try (PageAllocator a = PageAllocator.builder().pageSize(PAGE).threadCacheMaxOrder(4).backgroundThread(false)
                .node(NodeSpec.fixed(4 * MIB)).build()) {
            for (int run = 1; run <= 16; run++) {
                churn(a, run, 16 / run + 2);
            }
            ZoneStatus z = a.status().zone(0);
            assertTrue(z.cachedPages() <= 2 * 5 * 16, "one thread's cache holds " + z.cachedPages() + " of the "
                    + z.presentPages() + " pages of the zone: " + z);
        }
    }
}

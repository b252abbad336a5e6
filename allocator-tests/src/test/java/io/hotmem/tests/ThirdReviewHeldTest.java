package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.NodeSpec;
import io.hotmem.NodeState;
import io.hotmem.PageAllocator;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * What the third adversarial review (branch review-c) tried that held: the controls of {@link ThirdReviewDefectTest}
 * and probes of feature interactions that found nothing.
 */
class ThirdReviewHeldTest {
    private static final long MIB = 1L << 20;
    private static final int PAGE = 4096;

    /** Control of the interrupted-elastic defect: without the interrupt the same allocation plugs node 1. */
    @Test
    void anAllocationGrowsAnElasticAllocator() {
        try (PageAllocator a = PageAllocator.builder().name("rc-held-elastic").pageSize(PAGE).maxOrder(4)
                .backgroundThread(false).threadCacheMaxOrder(-1).elastic(true)
                .node(NodeSpec.fixed(MIB))
                .node(NodeSpec.hotRemovable(MIB).startUnplugged())
                .build()) {
            List<Long> fill = new ArrayList<>();
            long h;
            while ((h = a.tryAllocate(16 * PAGE, AllocFlags.NONE, 0)) != PageAllocator.NULL_HANDLE) {
                fill.add(h);
            }
            long got = a.allocate(16 * PAGE, AllocFlags.HOTREMOVABLE);
            assertEquals(1, a.nodeOf(got));
            assertEquals(NodeState.ENABLED, a.status().node(1).state());
        }
    }

    /** Control of the interrupted-compaction defect: without the interrupt direct compaction serves the order-1 block. */
    @Test
    void anAllocationCompactsAFragmentedZone() {
        try (PageAllocator a = PageAllocator.builder().name("rc-held-compact").pageSize(PAGE).maxOrder(4)
                .backgroundThread(false).threadCacheMaxOrder(-1)
                .node(NodeSpec.hotRemovable(MIB))
                .build()) {
            List<Long> all = new ArrayList<>();
            long h;
            while ((h = a.tryAllocate(PAGE, AllocFlags.HOTREMOVABLE, 0)) != PageAllocator.NULL_HANDLE) {
                all.add(h);
            }
            for (int i = 0; i < all.size(); i += 2) {
                a.free(all.get(i));
            }
            assertEquals(0, a.status().zone(0).largestFreeOrder());
            a.free(a.allocate(2 * PAGE, AllocFlags.HOTREMOVABLE));
            a.checkInvariants();
        }
    }
}

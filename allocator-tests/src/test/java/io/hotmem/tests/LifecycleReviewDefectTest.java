package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.NodeSpec;
import io.hotmem.NodeState;
import io.hotmem.PageAllocator;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/** Defects found by the third adversarial review (node lifecycle, governor, scoped reads), each failing on 003becf. */
class LifecycleReviewDefectTest {
    private static final long KIB = 1L << 10;

    /**
     * With no ENABLED node the default preferred node is -1 ({@code Zonelists.defaultNode}); an elastic allocator
     * then plugs and enables a node for a HOTREMOVABLE allocation, and {@code Allocation.allocateSlow} looks the
     * new zonelists up with the old preferred node -1: {@code lists[-1 * 4 + 0]} throws
     * ArrayIndexOutOfBoundsException out of allocate() (not a documented exception) instead of allocating on the
     * node that just came online.
     */
    @Test
    void elasticGrowthFromNoEnabledNodeAllocatesInsteadOfIndexOutOfBounds() {
        try (PageAllocator a = PageAllocator.builder().name("grow-from-none").backgroundThread(false).jmx(false)
                .elastic(true).node(NodeSpec.hotRemovable(64 * KIB).startUnplugged()).build()) {
            long h;
            try {
                h = a.allocate(4 * KIB, AllocFlags.HOTREMOVABLE);
            } catch (ArrayIndexOutOfBoundsException e) {
                fail("allocate(HOTREMOVABLE) with no ENABLED node threw " + e + " after the governor plugged node 0 ("
                        + a.status().nodes().get(0).state().label() + ")", e);
                return;
            }
            assertEquals(NodeState.ENABLED, a.status().nodes().get(0).state());
            assertEquals(0, a.nodeOf(h));
        }
    }
}

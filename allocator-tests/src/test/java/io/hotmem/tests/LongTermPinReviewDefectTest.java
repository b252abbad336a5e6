package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.AllocationFailedException;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import io.hotmem.Pin;
import org.junit.jupiter.api.Test;


import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * An adversarial review of pinLongTerm's direct compaction (2026-12-02): a compaction that reports room in a zone
 * taking no blocks made it spin to its deadline and throw the wrong exception; fixed by bounding those rounds.
 */
class LongTermPinReviewDefectTest {

    /**
     * pinLongTerm of a 2-page block in MOVABLE memory while the only NORMAL zone is being remapped (draining: it
     * hands out no block; PageAllocator.remap javadoc). No NORMAL zone has room, so the documented outcome is
     * AllocationFailedException (as before 8d0a3af, and as a plain non-movable allocation gets at the same moment).
     * The new direct compaction reports success (compactFor checks only that a free block of the order exists,
     * not that the zone takes blocks), so pinLongTerm loops on NO_MEMORY for 50 ms and then throws an
     * IllegalStateException claiming the block "stayed busy (NO_MEMORY) in MOVABLE ...".
     */
    @Test
    void pinLongTermWhileTheNormalZoneIsRemappedFailsAsNoRoom() throws Exception {
        try (PageAllocator a = PageAllocator.builder().name("revC-longterm-remap").pageSize(4096).maxOrder(4)
                .backgroundThread(false).jmx(false)
                .node(NodeSpec.fixed(1L << 20))        // Normal[0]
                .node(NodeSpec.hotRemovable(1L << 20)) // Movable[1]
                .build()) {
            long h = a.allocate(8192, AllocFlags.HOTREMOVABLE, 1); // in Movable[1], order 1
            assertEquals(1, a.nodeOf(h));
            // A movable block in Normal[0], pinned: the remap of zone 0 waits for it (zone draining meanwhile).
            long inNormal = a.allocate(4096, AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE, 0);
            assertEquals(0, a.nodeOf(inNormal));
            Pin pin = a.pin(inNormal);
            RemapInFlight remap = RemapInFlight.start(a, 0);
            try {
                // Control: a non-movable allocation of the same size has no NORMAL room either.
                assertThrows(AllocationFailedException.class, () -> a.allocate(8192, 0, 0));
                try (Pin p = a.pinLongTerm(h)) {
                    fail("pinned in node " + a.nodeOf(h) + " although the only NORMAL zone takes no block");
                } catch (AllocationFailedException expected) {
                    // documented
                } catch (IllegalStateException e) {
                    fail("pinLongTerm with no NORMAL room threw IllegalStateException instead of "
                            + "AllocationFailedException: " + e.getMessage(), e);
                }
                assertEquals(1, a.nodeOf(h), "nothing moved");
            } finally {
                pin.close();
                remap.join();
            }
        }
    }
}

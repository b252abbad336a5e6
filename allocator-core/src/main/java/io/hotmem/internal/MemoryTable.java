package io.hotmem.internal;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * The segments handed to users, by zone id: each zone's part of its node's user view (scoped by the node's
 * {@link Node#userScope}), a zero-length segment while the zone is unplugged. Internal accesses never use these
 * (they go through {@link AllocatorContext#memory}); {@code Pin.segment()} and {@code segment(h)} slice them, so a
 * user's segment throws once its node is unplugged. Written by {@link NodeLifecycle} (under the control lock and
 * the zone's lock) when a zone is plugged or unplugged; read without a lock under a pin (which keeps the zone
 * plugged) or for a non-movable allocation (whose zone stays plugged while it is live).
 *
 * <p>The array grows by copy when nodes are added; the copy is complete before the volatile store that publishes
 * it, so a reader sees either the old array (which has every zone it can have a location for) or the new one.
 */
final class MemoryTable {
    static final MemorySegment NO_MEMORY = MemorySegment.ofArray(new byte[0]);

    private volatile MemorySegment[] byZone = new MemorySegment[0];

    /** @return the memory of zone {@code zoneId}; a garbage id throws {@link IndexOutOfBoundsException} */
    MemorySegment of(int zoneId) {
        return byZone[zoneId];
    }

    /** Makes room for zones {@code 0 .. zones - 1} (control lock held). */
    void ensure(int zones) {
        MemorySegment[] old = byZone;
        if (old.length < zones) {
            MemorySegment[] grown = Arrays.copyOf(old, Math.max(zones, 2 * old.length));
            Arrays.fill(grown, old.length, grown.length, NO_MEMORY);
            byZone = grown; // publishes the grown table
        }
    }

    /** Sets zone {@code zoneId}'s memory (control lock and zone lock held). */
    void set(int zoneId, MemorySegment memory) {
        byZone[zoneId] = memory;
    }
}

package io.hotmem.internal;

import io.hotmem.NodeSpec;
import io.hotmem.NodeState;

import java.lang.foreign.Arena;

/**
 * One node: an id, its spec, its place in the allocator's address range and its zones (fixed for the node's life,
 * so zone ids and locations are stable) and, while plugged, the scope of the segments handed to users. {@link
 * #state} is written only under the allocator's control lock and read anywhere.
 */
final class Node {
    final int id;
    final NodeSpec spec;
    /** Byte offset of the node's memory in the allocator's address range. */
    final long offsetInRange;
    /** NORMAL zone first (if any), then MOVABLE (if any). */
    final Zone[] zones;
    volatile NodeState state = NodeState.UNPLUGGED;
    /**
     * The scope of every segment of this node handed to users ({@code Pin.segment()}, {@code segment(h)}) while
     * plugged; closed at unplug, so such a segment used afterwards throws. Guarded by the control lock.
     */
    Arena userScope;
    /**
     * The scope of an earlier plugging that could not be closed at unplug (a user segment was inside an operation
     * such as blocking I/O), or null; the node's memory is given back, and the node plugged again, only once it
     * closes. Guarded by the control lock.
     */
    Arena retiredScope;

    Node(int id, NodeSpec spec, long offsetInRange, Zone[] zones) {
        this.id = id;
        this.spec = spec;
        this.offsetInRange = offsetInRange;
        this.zones = zones;
    }

    /**
     * Takes every zone lock of the node, in zone order (the order of the lock table in the package documentation):
     * {@link #state} is written with them all held, so it and the zones read under them agree.
     */
    void lockZones() {
        for (Zone z : zones) {
            z.lock.lock();
        }
    }

    /** Releases what {@link #lockZones} took, in reverse order. */
    void unlockZones() {
        for (int i = zones.length - 1; i >= 0; i--) {
            zones[i].lock.unlock();
        }
    }
}

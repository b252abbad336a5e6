package io.hotmem.internal;

import io.hotmem.NodeSpec;
import io.hotmem.NodeState;
import io.hotmem.internal.prim.Backing;

/**
 * One node: an id, its spec, its zones (fixed for the node's life, so zone ids are stable) and, while plugged,
 * its memory. {@link #state} is written only under the allocator's control lock and read anywhere.
 */
final class Node {
    final int id;
    final NodeSpec spec;
    /** NORMAL zone first (if any), then MOVABLE (if any). */
    final Zone[] zones;
    volatile NodeState state = NodeState.UNPLUGGED;
    /** The node's memory while plugged; guarded by the control lock. */
    Backing backing;

    Node(int id, NodeSpec spec, Zone[] zones) {
        this.id = id;
        this.spec = spec;
        this.zones = zones;
    }
}

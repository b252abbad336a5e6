package io.hotmem.internal;

import io.hotmem.MemoryStatus;
import io.hotmem.NodeState;
import io.hotmem.NodeStatus;
import io.hotmem.ZoneStatus;

import java.util.ArrayList;
import java.util.List;

/**
 * The allocator's views of itself: the status snapshot ({@code /proc/memhotplug}) and the executable invariants
 * of the design (per zone {@code free + active == present} and the buddy's own, in {@link Zone#checkLocked};
 * node state and zone openness agree; invariant 3 for thread caches).
 */
final class StatusView {
    private StatusView() {
    }

    static MemoryStatus status(Topology t, CacheRegistry registry, long limit, boolean elastic, String report) {
        List<NodeStatus> out = new ArrayList<>();
        long plugged = 0;
        for (Node n : t.nodes) {
            // The node's state is written with all its zone locks held (Node.lockZones): read it and its zones under
            // them, so that a plug or unplug running meanwhile is either wholly in this node's line or not at all (a
            // node read DISABLED with the zones an unplug had just emptied was possible when the state was read
            // first, without the locks).
            NodeState state;
            List<ZoneStatus> zs = new ArrayList<>();
            n.lockZones();
            try {
                state = n.state;
                if (state != NodeState.UNPLUGGED) {
                    for (Zone z : n.zones) {
                        zs.add(z.snapshotLocked(registry.cachedPages(z.id)));
                    }
                }
            } finally {
                n.unlockZones();
            }
            plugged += state != NodeState.UNPLUGGED ? n.spec.bytes() : 0;
            out.add(new NodeStatus(n.id, state, n.spec.hotRemovable(), zs));
        }
        return new MemoryStatus(out, plugged, limit, elastic, report);
    }

    /** @throws IllegalStateException naming the first broken invariant */
    static void checkInvariants(Topology t, CacheRegistry registry) {
        for (Node n : t.nodes) {
            for (Zone z : n.zones) {
                z.lock.lock();
                try {
                    z.checkLocked();
                    // The node's state is written with all its zone locks held, so it agrees with this zone.
                    NodeState state = n.state;
                    boolean plugged = z.isPluggedLocked();
                    if (plugged != (state != NodeState.UNPLUGGED)) {
                        throw new IllegalStateException("invariant broken: node " + n.id + " is " + state.label()
                                + " but " + z.label() + (plugged ? " has" : " has no") + " memory");
                    }
                    if (z.isOpenLocked() != (state == NodeState.ENABLED)) {
                        throw new IllegalStateException("invariant broken: node " + n.id + " is " + state.label()
                                + " but " + z.label() + (z.isOpenLocked() ? " is" : " is not")
                                + " open to allocations");
                    }
                } finally {
                    z.lock.unlock();
                }
                // Invariant 3 for thread caches: once a zone stopped accepting blocks and the reclaim that follows
                // ended, no cache holds a block of it (none can get one while the epoch stays).
                int epoch = z.cacheEpoch;
                if (!Zone.isAcceptingEpoch(epoch) && z.flushedEpoch == epoch) {
                    long cached = registry.cachedPages(z.id);
                    if (cached != 0 && z.cacheEpoch == epoch) {
                        throw new IllegalStateException("invariant broken: " + z.label() + " of node " + n.id
                                + " does not accept blocks, yet thread caches hold " + cached + " of its pages");
                    }
                }
            }
        }
    }
}

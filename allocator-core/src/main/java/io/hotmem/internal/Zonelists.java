package io.hotmem.internal;

import io.hotmem.AllocFlags;
import io.hotmem.NodeState;
import io.hotmem.ZoneType;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * For each preferred node and allocation class, the zones to try in order (Linux {@code node_zonelists[]}).
 * Immutable: rebuilt on every node state change and published through a volatile field, so the allocation path
 * reads it without a lock. A zone in a list may have been disabled since; the zone lock decides.
 *
 * <p>For preferred node {@code n}, ENABLED nodes are ordered by distance {@code |i - n|}, ties to the lower id.
 * HOTREMOVABLE tries their MOVABLE zones in that order, then their NORMAL zones; a non-movable allocation tries
 * only NORMAL zones; THISNODE keeps only node {@code n}.
 */
final class Zonelists {
    private static final int MOVABLE = 0;
    private static final int NORMAL = 1;
    private static final int MOVABLE_THISNODE = 2;
    private static final int NORMAL_THISNODE = 3;
    private static final int KINDS = 4;

    private final Zone[][] lists;
    /** The lowest-numbered ENABLED node, or -1. */
    final int defaultNode;
    /** The number of nodes the lists were built for. */
    final int nodeCount;

    private Zonelists(Zone[][] lists, int defaultNode, int nodeCount) {
        this.lists = lists;
        this.defaultNode = defaultNode;
        this.nodeCount = nodeCount;
    }

    /** @return the zones to try for an allocation with {@code flags} preferring {@code node} */
    Zone[] get(int node, int flags) {
        int kind = ((flags & AllocFlags.HOTREMOVABLE) != 0 ? MOVABLE : NORMAL)
                + ((flags & AllocFlags.THISNODE) != 0 ? MOVABLE_THISNODE : 0);
        return lists[node * KINDS + kind];
    }

    /**
     * @return the zones to try for a block with {@code flags} that should go to {@code node} itself first: that
     *         node's zones of the list (MOVABLE, then NORMAL), then the rest of {@link #get}'s list in its order (a
     *         drain to a fixed node fills that node's NORMAL zone before another node's MOVABLE one)
     */
    Zone[] nodeFirst(int node, int flags) {
        Zone[] own = get(node, flags | AllocFlags.THISNODE);
        Zone[] all = get(node, flags & ~AllocFlags.THISNODE);
        Zone[] out = Arrays.copyOf(own, all.length);
        int k = own.length;
        for (Zone z : all) {
            if (z.node.id != node) {
                out[k++] = z;
            }
        }
        return k == out.length ? out : Arrays.copyOf(out, k);
    }

    static Zonelists build(Node[] nodes) {
        Zone[][] lists = new Zone[nodes.length * KINDS][];
        int defaultNode = -1;
        for (Node n : nodes) {
            if (n.state == NodeState.ENABLED) {
                defaultNode = n.id;
                break;
            }
        }
        for (int preferred = 0; preferred < nodes.length; preferred++) {
            final int p = preferred;
            Node[] byDistance = Arrays.stream(nodes)
                    .filter(n -> n.state == NodeState.ENABLED)
                    .sorted(Comparator.<Node>comparingInt(n -> Math.abs(n.id - p)).thenComparingInt(n -> n.id))
                    .toArray(Node[]::new);
            lists[p * KINDS + MOVABLE] = zones(byDistance, -1, true);
            lists[p * KINDS + NORMAL] = zones(byDistance, -1, false);
            lists[p * KINDS + MOVABLE_THISNODE] = zones(byDistance, p, true);
            lists[p * KINDS + NORMAL_THISNODE] = zones(byDistance, p, false);
        }
        return new Zonelists(lists, defaultNode, nodes.length);
    }

    private static Zone[] zones(Node[] byDistance, int onlyNode, boolean movable) {
        List<Zone> out = new ArrayList<>();
        if (movable) {
            add(out, byDistance, onlyNode, ZoneType.MOVABLE);
        }
        add(out, byDistance, onlyNode, ZoneType.NORMAL);
        return out.toArray(Zone[]::new);
    }

    private static void add(List<Zone> out, Node[] byDistance, int onlyNode, ZoneType type) {
        for (Node n : byDistance) {
            if (onlyNode >= 0 && n.id != onlyNode) {
                continue;
            }
            for (Zone z : n.zones) {
                if (z.type == type) {
                    out.add(z);
                }
            }
        }
    }
}

package io.hotmem.internal;

/**
 * What the allocator is made of at one moment: its nodes, their zones by id, and the zonelists built from the
 * nodes' states. Immutable once built (node states change under the control lock, and every change publishes a
 * new topology); published with one volatile store ({@link NodeLifecycle}), so a reader that sees a node counted
 * also sees its zones and its zonelists.
 */
final class Topology {
    /** No node: what a new allocator starts from, and what a closed one shows. */
    static final Topology EMPTY = new Topology(new Node[0], new Zone[0]);

    /** By id. */
    final Node[] nodes;
    /** By zone id; every node's zones, in node order. */
    final Zone[] zones;
    final Zonelists zonelists;

    /** Builds the zonelists from the nodes' states as they are now (the caller holds the control lock). */
    Topology(Node[] nodes, Zone[] zones) {
        this.nodes = nodes;
        this.zones = zones;
        this.zonelists = Zonelists.build(nodes);
    }

    /** @return this topology's nodes with new zonelists (after a node state change) */
    Topology rebuilt() {
        return new Topology(nodes, zones);
    }

    /**
     * @return the zone with global id {@code zoneId}
     * @throws IllegalArgumentException naming the id and the range when there is no such zone
     */
    Zone zone(int zoneId) {
        if (zoneId < 0 || zoneId >= zones.length) {
            throw new IllegalArgumentException("unknown zone " + zoneId + " (zones 0.." + (zones.length - 1) + ")");
        }
        return zones[zoneId];
    }

    /** @return the bytes of every node that is not UNPLUGGED (any thread; the states are read one by one) */
    long pluggedBytes() {
        long sum = 0;
        for (Node n : nodes) {
            if (n.state != io.hotmem.NodeState.UNPLUGGED) {
                sum += n.spec.bytes();
            }
        }
        return sum;
    }
}

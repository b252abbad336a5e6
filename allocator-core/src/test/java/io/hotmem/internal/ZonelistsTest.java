package io.hotmem.internal;

import io.hotmem.AllocFlags;
import io.hotmem.NodeSpec;
import io.hotmem.NodeState;
import io.hotmem.ZoneType;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Zonelist construction (Linux {@code build_zonelists}): distance order, zone classes, THISNODE, the default. */
class ZonelistsTest {
    private static final int SHIFT = 12;

    /**
     * Nodes with ids 0..n-1: "F" fixed (one NORMAL zone), "S" fixed with a MOVABLE part (NORMAL then MOVABLE),
     * "H" hot-removable (one MOVABLE zone); lower case: not ENABLED.
     */
    private static Node[] nodes(String kinds) {
        Node[] ns = new Node[kinds.length()];
        int zoneId = 0;
        for (int i = 0; i < ns.length; i++) {
            char k = kinds.charAt(i);
            char upper = Character.toUpperCase(k);
            NodeSpec spec = switch (upper) {
                case 'F' -> NodeSpec.fixed(1 << 20);
                case 'S' -> NodeSpec.fixed(1 << 20).movableBytes(1 << 19);
                default -> NodeSpec.hotRemovable(1 << 20);
            };
            Node n = new Node(i, spec, 0, new Zone[upper == 'S' ? 2 : 1]);
            if (upper == 'S') {
                n.zones[0] = new Zone(zoneId++, ZoneType.NORMAL, n, 0, 128, SHIFT, 4, new Ticker(),
                        Double.POSITIVE_INFINITY);
                n.zones[1] = new Zone(zoneId++, ZoneType.MOVABLE, n, 1 << 19, 128, SHIFT, 4, new Ticker(),
                        Double.POSITIVE_INFINITY);
            } else {
                n.zones[0] = new Zone(zoneId++, upper == 'F' ? ZoneType.NORMAL : ZoneType.MOVABLE, n, 0, 256,
                        SHIFT, 4, new Ticker(), Double.POSITIVE_INFINITY);
            }
            n.state = Character.isUpperCase(k) ? NodeState.ENABLED : NodeState.DISABLED;
            ns[i] = n;
        }
        return ns;
    }

    private static String ids(Zone[] zs) {
        return Arrays.stream(zs).map(z -> String.valueOf(z.id)).collect(Collectors.joining(","));
    }

    @Test
    void zonesGoByDistanceTiesToTheLowerIdMovableFirst() {
        // zones: node0 F -> 0; node1 H -> 1; node2 S -> 2 (NORMAL), 3 (MOVABLE); node3 H -> 4
        Zonelists zl = Zonelists.build(nodes("FHSH"));
        assertEquals(0, zl.defaultNode);
        assertEquals(4, zl.nodeCount);
        // preferring node 2: distance order 2, 1 (tie with 3 goes to the lower id), 3, 0
        assertEquals("3,1,4,2,0", ids(zl.get(2, AllocFlags.HOTREMOVABLE)));
        assertEquals("2,0", ids(zl.get(2, AllocFlags.NONE)));
        assertEquals("3,2", ids(zl.get(2, AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE)));
        assertEquals("2", ids(zl.get(2, AllocFlags.THISNODE)));
        assertEquals("1,3,4,0,2", ids(zl.get(1, AllocFlags.HOTREMOVABLE)));
        assertEquals("", ids(zl.get(1, AllocFlags.THISNODE)), "a hot-removable node has no NORMAL zone");
    }

    @Test
    void nodesThatAreNotEnabledAreInNoList() {
        Zonelists zl = Zonelists.build(nodes("fHsH"));
        assertEquals(1, zl.defaultNode, "the lowest ENABLED node");
        assertEquals("1,4", ids(zl.get(0, AllocFlags.HOTREMOVABLE)));
        assertEquals("", ids(zl.get(0, AllocFlags.NONE)));
        assertEquals("", ids(zl.get(2, AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE)));
    }

    @Test
    void noEnabledNodeMeansNoDefaultAndEmptyLists() {
        Zonelists zl = Zonelists.build(nodes("fh"));
        assertEquals(-1, zl.defaultNode);
        assertEquals("", ids(zl.get(0, AllocFlags.HOTREMOVABLE)));
        assertEquals("", ids(zl.get(1, AllocFlags.NONE)));
    }

    @Test
    void aTopologyIsPublishedWithTheZonelistsOfItsNodes() {
        Node[] ns = nodes("FH");
        Topology t = new Topology(ns, new Zone[] {ns[0].zones[0], ns[1].zones[0]});
        assertEquals(2, t.zonelists.nodeCount, "a node counted in the topology is in its zonelists");
        ns[1].state = NodeState.DISABLED;
        Topology r = t.rebuilt();
        assertEquals("1", ids(t.zonelists.get(1, AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE)));
        assertEquals("", ids(r.zonelists.get(1, AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE)));
    }
}

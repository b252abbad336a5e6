package io.hotmem.tests;

import io.hotmem.NodeState;
import io.hotmem.NodeStatus;
import io.hotmem.PageAllocator;
import io.hotmem.ZoneStatus;

/** The checks every concurrent test runs on a status snapshot, while other threads keep working. */
final class Snapshots {
    private Snapshots() {
    }

    /**
     * Takes a status snapshot and checks it (per zone {@code free + active == present}; an unplugged node shows no
     * zone), then runs {@link PageAllocator#checkInvariants()}.
     *
     * @throws AssertionError naming the zone or node that broke a rule
     */
    static void check(PageAllocator a) {
        for (NodeStatus n : a.status().nodes()) {
            for (ZoneStatus z : n.zones()) {
                if (z.freePages() + z.activePages() != z.presentPages()) {
                    throw new AssertionError("snapshot broke free + active == present: " + z);
                }
            }
            if (n.state() == NodeState.UNPLUGGED && !n.zones().isEmpty()) {
                throw new AssertionError("unplugged node with zones: " + n);
            }
        }
        a.checkInvariants();
    }
}

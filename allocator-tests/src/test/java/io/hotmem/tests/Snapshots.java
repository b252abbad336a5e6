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

    /**
     * Gives the thread caches back, then renders the status without the purged counts: the view to compare before
     * and after a call that must change nothing. A call that fails for lack of memory gives every cache back before
     * it fails (as Linux drains its per-CPU lists), which moves cached pages to the buddy lists but changes no
     * other count; and a test's own allocate-and-free steps make purged (untouched) memory resident.
     */
    static String settled(PageAllocator a) {
        a.trimCaches();
        return a.status().render().replaceAll(", purged \\d+", "");
    }
}

package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.HotplugListener;
import io.hotmem.MemoryBacking;
import io.hotmem.NodeSpec;
import io.hotmem.NodeState;
import io.hotmem.PageAllocator;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Defects of the capacity governor of commit 2ddb4c7 (adversarial review), each failing on that commit.
 *
 * <ul>
 *   <li>An elastic allocation that no node could serve plugs every unplugged hot-removable node anyway
 *       ({@code Allocation.allocateSlow} loops on {@code Governor.growFor}, which ignores the request): a
 *       non-movable request (hot-removable nodes are all MOVABLE), a THISNODE request for another node, a block
 *       larger than any hot-removable node.</li>
 *   <li>{@code addNode} of a node that starts plugged asks no {@code onGoingOnline}: a listener's veto is
 *       bypassed.</li>
 *   <li>{@code setCapacityLimit} accepts a limit that can never be met (below one node with data, no other node
 *       to drain into), so the governor offlines a node and then fails forever.</li>
 *   <li>A plug that fails after the listeners approved it ({@code onGoingOnline}) sends no
 *       {@code onCancelOnline}.</li>
 *   <li>A veto of the lowest-id candidate node stops all elastic growth; a pinned straggler in the emptiest node
 *       keeps the limit from ever being met (the same victim is retried forever).</li>
 * </ul>
 */
class CapacityGovernorDefectTest {
    private static final long KIB = 1L << 10;

    private static PageAllocator.Builder builder(String name) {
        return PageAllocator.builder().name(name).pageSize(4096).maxOrder(4).backgroundThread(false).jmx(false)
                .threadCacheMaxOrder(-1);
    }

    /** A fixed node of 64 KiB, then three hot-removable ones of 64 KiB that start unplugged; elastic. */
    private static PageAllocator elasticFixedPlusThreeUnplugged(String name, int maxOrder) {
        return builder(name).maxOrder(maxOrder)
                .node(NodeSpec.fixed(64 * KIB))
                .node(NodeSpec.hotRemovable(64 * KIB).startUnplugged())
                .node(NodeSpec.hotRemovable(64 * KIB).startUnplugged())
                .node(NodeSpec.hotRemovable(64 * KIB).startUnplugged())
                .elastic(true)
                .build();
    }

    private static String states(PageAllocator a) {
        StringBuilder sb = new StringBuilder();
        a.status().nodes().forEach(n -> sb.append(n.id()).append('=').append(n.state().label()).append(' '));
        return sb.toString().strip();
    }

    // ============================================================================================ growFor

    @Test
    void aFailedNonMovableAllocationPlugsNoMovableOnlyNode() {
        try (PageAllocator a = elasticFixedPlusThreeUnplugged("gov-nonmovable", 4)) {
            a.allocate(64 * KIB, AllocFlags.NONE); // the fixed node's one NORMAL block
            assertEquals(64 * KIB, a.pluggedBytes());
            // Only NORMAL zones serve a non-movable allocation; a hot-removable node is one MOVABLE zone.
            long h = a.tryAllocate(4 * KIB, AllocFlags.NONE, 0);
            assertEquals(PageAllocator.NULL_HANDLE, h);
            assertEquals(64 * KIB, a.pluggedBytes(), "a non-movable allocation that no hot-removable node "
                    + "can serve plugged hot-removable nodes anyway: " + states(a));
        }
    }

    @Test
    void aFailedThisNodeAllocationPlugsNoOtherNode() {
        try (PageAllocator a = elasticFixedPlusThreeUnplugged("gov-thisnode", 4)) {
            a.allocate(64 * KIB, AllocFlags.HOTREMOVABLE, 0);
            long h = a.tryAllocate(4 * KIB, AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE, 0);
            assertEquals(PageAllocator.NULL_HANDLE, h);
            assertEquals(64 * KIB, a.pluggedBytes(), "a THISNODE allocation on node 0 plugged other nodes, "
                    + "which it may not use: " + states(a));
        }
    }

    @Test
    void aFailedAllocationLargerThanAnyHotRemovableNodePlugsNone() {
        try (PageAllocator a = elasticFixedPlusThreeUnplugged("gov-toolarge", 6)) {
            // 128 KiB: larger than every node (64 KiB each), so no node can ever serve it.
            long h = a.tryAllocate(128 * KIB, AllocFlags.HOTREMOVABLE, 0);
            assertEquals(PageAllocator.NULL_HANDLE, h);
            assertEquals(64 * KIB, a.pluggedBytes(), "a 128 KiB allocation plugged 64 KiB nodes that cannot "
                    + "hold it: " + states(a));
        }
    }

    // ============================================================================================ vetoes

    @Test
    void addNodeOfAPluggedNodeAsksOnGoingOnline() {
        try (PageAllocator a = builder("gov-addnode-veto").addressSpace(1L << 20)
                .node(NodeSpec.fixed(64 * KIB)).build()) {
            List<String> calls = new CopyOnWriteArrayList<>();
            a.addListener(new HotplugListener() {
                @Override
                public void onGoingOnline(int node) {
                    calls.add("onGoingOnline(" + node + ")");
                    throw new IllegalStateException("no node may come online");
                }
            });
            // plug is vetoed ...
            int unplugged = a.addNode(NodeSpec.hotRemovable(64 * KIB).startUnplugged());
            assertThrows(IllegalStateException.class, () -> a.plug(unplugged));
            assertEquals(NodeState.UNPLUGGED, a.status().nodes().get(unplugged).state());
            calls.clear();
            // ... but a node added ENABLED comes online without a word to the listener.
            int id;
            try {
                id = a.addNode(NodeSpec.hotRemovable(64 * KIB));
            } catch (IllegalStateException vetoed) {
                return; // the veto held
            }
            assertTrue(calls.contains("onGoingOnline(" + id + ")"), "addNode brought node " + id + " online ("
                    + a.status().nodes().get(id).state().label() + ", plugged " + a.pluggedBytes()
                    + " bytes) without onGoingOnline; calls " + calls);
        }
    }

    /**
     * A plug that the listeners approved ({@code onGoingOnline}) and that then fails (here: a segment of the node's
     * last plugging is still inside blocking I/O, so {@code plugUnderControl} refuses) tells them nothing more: no
     * {@code onCancelOnline}, no {@code onOnline}. The listeners believe the node is coming online.
     */
    @Test
    void aPlugThatFailsAfterOnGoingOnlineTellsOnCancelOnline() throws Exception {
        try (PageAllocator a = builder("gov-plug-cancel").maxOrder(8)
                .node(NodeSpec.fixed(1L << 20))
                .node(NodeSpec.hotRemovable(1L << 20)).build()) {
            long h = a.allocate(512 * KIB, AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE, 1);
            java.nio.channels.Pipe pipe = java.nio.channels.Pipe.open();
            java.util.concurrent.CountDownLatch writing = new java.util.concurrent.CountDownLatch(1);
            Thread writer;
            try (io.hotmem.Pin pin = a.pin(h)) {
                java.nio.ByteBuffer bb = pin.segment().asByteBuffer();
                writer = new Thread(() -> {
                    writing.countDown();
                    try {
                        pipe.sink().write(bb); // blocks: nobody reads the pipe; keeps node 1's user scope acquired
                    } catch (java.io.IOException e) {
                        // closed below
                    }
                }, "blocked-writer");
                writer.setDaemon(true);
                writer.start();
                writing.await();
                Thread.sleep(200);
            }
            try {
                a.free(h);
                a.disable(1);
                a.unplug(1); // its user scope cannot close: the node is unplugged, its memory kept
                List<String> calls = new CopyOnWriteArrayList<>();
                a.addListener(new HotplugListener() {
                    @Override
                    public void onGoingOnline(int node) {
                        calls.add("onGoingOnline(" + node + ")");
                    }

                    @Override
                    public void onCancelOnline(int node) {
                        calls.add("onCancelOnline(" + node + ")");
                    }

                    @Override
                    public void onOnline(int node) {
                        calls.add("onOnline(" + node + ")");
                    }
                });
                assertThrows(IllegalStateException.class, () -> a.plug(1));
                assertEquals(NodeState.UNPLUGGED, a.status().nodes().get(1).state());
                assertTrue(calls.isEmpty() || calls.equals(List.of("onGoingOnline(1)", "onCancelOnline(1)")),
                        "a failed plug left the listeners with " + calls);
            } finally {
                pipe.source().close();
                pipe.sink().close();
                writer.join(5_000);
            }
        }
    }

    /**
     * The governor always grows into the lowest-id UNPLUGGED hot-removable node that fits; a listener that vetoes
     * that one node (say it is under maintenance) makes every grow fail, though the next node would be accepted.
     */
    @Test
    void aVetoOfOneNodeDoesNotStopElasticGrowthIntoAnother() {
        try (PageAllocator a = elasticFixedPlusThreeUnplugged("gov-veto-one", 4)) {
            a.addListener(new HotplugListener() {
                @Override
                public void onGoingOnline(int node) {
                    if (node == 1) {
                        throw new IllegalStateException("node 1 is under maintenance");
                    }
                }
            });
            a.allocate(64 * KIB, AllocFlags.HOTREMOVABLE, 0); // node 0 is full
            long h = a.tryAllocate(4 * KIB, AllocFlags.HOTREMOVABLE, 0);
            assertTrue(h != PageAllocator.NULL_HANDLE, "elastic allocation failed although nodes 2 and 3 may come "
                    + "online (only node 1 is vetoed): " + states(a) + ", report '" + a.status().governorReport()
                    + "'");
        }
    }

    /**
     * Above the limit the governor always picks the hot-removable node with the fewest used bytes. If that node
     * holds a pinned straggler its offline fails, and every later attempt picks it again: another node, whose
     * offline would succeed and meet the limit, is never tried.
     */
    @Test
    void aPinnedStragglerInTheEmptiestNodeDoesNotKeepTheLimitFromBeingMet() throws Exception {
        try (PageAllocator a = PageAllocator.builder().name("gov-straggler").pageSize(4096).maxOrder(4).jmx(false)
                .threadCacheMaxOrder(-1).purgeAfter(java.time.Duration.ofMillis(40))
                .node(NodeSpec.fixed(1L << 20))
                .node(NodeSpec.hotRemovable(1L << 20))   // node 1: one block, pinned
                .node(NodeSpec.hotRemovable(1L << 20))   // node 2: two blocks, free to move
                .build()) {
            long pinnedBlock = a.allocate(4 * KIB, AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE, 1);
            a.allocate(4 * KIB, AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE, 2);
            a.allocate(4 * KIB, AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE, 2);
            try (io.hotmem.Pin pin = a.pin(pinnedBlock)) {
                a.setCapacityLimit(2L << 20); // one hot-removable node must go; node 2 can
                long deadline = System.nanoTime() + 7_000_000_000L;
                while (a.pluggedBytes() > (2L << 20) && System.nanoTime() < deadline) {
                    Thread.sleep(50);
                }
                assertTrue(a.pluggedBytes() <= (2L << 20), "after 7 s the limit of 2 MiB is still not met ("
                        + states(a) + ", plugged " + a.pluggedBytes() + "): the governor keeps trying the node "
                        + "with the pinned block; report '" + a.status().governorReport() + "'");
            }
        }
    }

    // ============================================================================================ limits

    @Test
    void aLimitThatCanNeverBeMetIsRefused() {
        try (PageAllocator a = builder("gov-unmeetable")
                .node(NodeSpec.hotRemovable(64 * KIB))
                .node(NodeSpec.hotRemovable(64 * KIB)).build()) {
            a.allocate(4 * KIB, AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE, 0);
            a.allocate(4 * KIB, AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE, 1);
            // 8 KiB of data must live in some node, and a node is 64 KiB: plugged bytes can never be 8 KiB.
            IllegalArgumentException e = null;
            try {
                a.setCapacityLimit(8 * KIB);
            } catch (IllegalArgumentException refused) {
                e = refused;
            }
            String after = states(a) + ", plugged " + a.pluggedBytes() + ", report '" + a.status().governorReport()
                    + "'";
            assertTrue(e != null, "a capacity limit of 8 KiB (below any node, with data in both) was accepted; "
                    + "the governor then did: " + after);
        }
    }
}

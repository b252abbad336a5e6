package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.AllocationFailedException;
import io.hotmem.HotplugCommands;
import io.hotmem.HotplugListener;
import io.hotmem.NodeSpec;
import io.hotmem.NodeState;
import io.hotmem.PageAllocator;
import io.hotmem.Pin;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The capacity limit and elastic capacity: the governor offlines the emptiest hot-removable nodes under a lowered
 * limit with nothing lost, never offlines fixed nodes, is delayed (never forced) by a pin, refuses impossible
 * limits, plugs nodes before an allocation would fail when elastic, and respects a listener's veto of a node coming
 * online (the GOING_ONLINE half of Linux's memory notifier, as mem-on-off-test.sh checks it).
 */
class CapacityLimitTest {
    private static final long MIB = 1 << 20;
    private static final long NODE = 8 * MIB;
    private static final long BLOCK = 64 * 1024;

    /** One fixed node and four hot-removable ones of 8 MiB; the agent as asked. */
    private static PageAllocator allocator(String name, boolean agent, boolean elastic, boolean removableUnplugged) {
        PageAllocator.Builder b = PageAllocator.builder().name(name).maxOrder(6).backgroundThread(agent)
                .purgeAfter(java.time.Duration.ofMillis(50)).elastic(elastic).node(NodeSpec.fixed(NODE));
        for (int i = 0; i < 4; i++) {
            b.node(removableUnplugged ? NodeSpec.hotRemovable(NODE).startUnplugged() : NodeSpec.hotRemovable(NODE));
        }
        return b.build();
    }

    /** A movable allocation on {@code node} whose every long is {@code seed ^ offset}. */
    private static long filled(PageAllocator a, int node, long seed) {
        long h = a.allocate(BLOCK, AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE, node);
        for (long off = 0; off < BLOCK; off += 8) {
            a.setLong(h, off, seed ^ off);
        }
        return h;
    }

    private static void verify(PageAllocator a, List<long[]> live) {
        for (long[] e : live) {
            for (long off = 0; off < BLOCK; off += 8) {
                assertEquals(e[1] ^ off, a.getLong(e[0], off), "handle 0x" + Long.toHexString(e[0]) + " at " + off);
            }
        }
    }

    @Test
    void impossibleLimitsAreRefusedWithTheirValueAndChangeNothing() {
        try (PageAllocator a = allocator("cap-bad", false, false, false)) {
            List<long[]> live = new ArrayList<>();
            for (int n = 1; n <= 4; n++) {
                for (int i = 0; i < 40; i++) { // 2.5 MiB used on each removable node: 10 MiB in all
                    live.add(new long[]{filled(a, n, n * 1000L + i), n * 1000L + i});
                }
            }
            IllegalArgumentException neg = assertThrows(IllegalArgumentException.class, () -> a.setCapacityLimit(-1));
            assertTrue(neg.getMessage().contains("-1"), neg.getMessage());
            IllegalArgumentException fixed = assertThrows(IllegalArgumentException.class,
                    () -> a.setCapacityLimit(NODE - 4096));
            assertTrue(fixed.getMessage().contains(String.valueOf(NODE - 4096)) && fixed.getMessage().contains("fixed"),
                    fixed.getMessage());
            IllegalArgumentException used = assertThrows(IllegalArgumentException.class,
                    () -> a.setCapacityLimit(NODE + 8 * MIB));
            assertTrue(used.getMessage().contains("in use"), used.getMessage());
            assertEquals(Long.MAX_VALUE, a.capacityLimit());
            assertEquals(5 * NODE, a.pluggedBytes());
            for (int n = 0; n <= 4; n++) {
                assertEquals(NodeState.ENABLED, a.status().node(n).state());
            }
            verify(a, live);
        }
    }

    @Test
    void aLoweredLimitOfflinesTheEmptiestRemovableNodesAndKeepsEveryByte() {
        try (PageAllocator a = allocator("cap-lower", false, false, false)) {
            List<long[]> live = new ArrayList<>();
            int[] perNode = {0, 30, 5, 20, 10}; // node 2, then node 4, are the emptiest
            for (int n = 1; n <= 4; n++) {
                for (int i = 0; i < perNode[n]; i++) {
                    live.add(new long[]{filled(a, n, n * 1000L + i), n * 1000L + i});
                }
            }
            a.setCapacityLimit(NODE + 2 * NODE); // no agent: the call itself shrinks
            assertEquals(3 * NODE, a.pluggedBytes());
            assertEquals(NodeState.UNPLUGGED, a.status().node(2).state());
            assertEquals(NodeState.UNPLUGGED, a.status().node(4).state());
            assertEquals(NodeState.ENABLED, a.status().node(0).state(), "a fixed node is never offlined");
            verify(a, live);
            a.checkInvariants();

            // Nothing is plugged past the limit, by hand or by addNode...
            IllegalStateException plug = assertThrows(IllegalStateException.class, () -> a.plug(2));
            assertTrue(plug.getMessage().contains("capacity limit of " + 3 * NODE), plug.getMessage());
            assertEquals(NodeState.UNPLUGGED, a.status().node(2).state());
            assertThrows(IllegalStateException.class, () -> a.addNode(NodeSpec.hotRemovable(NODE)));
            assertEquals(5, a.nodeCount());
            // ...until the limit is raised.
            a.setCapacityLimit(Long.MAX_VALUE);
            a.plug(2);
            a.enable(2);
            assertEquals(4 * NODE, a.pluggedBytes());
            String render = a.status().render();
            assertFalse(render.contains("Capacity:"), "no limit, not elastic: the original view\n" + render);
            a.setCapacityLimit(4 * NODE);
            assertTrue(a.status().render().contains("Capacity: plugged 32 MiB, limit 32 MiB"), a.status().render());
        }
    }

    @Test
    void aPinnedStragglerIsNeverForcedAndTheNextNodeGoesInstead() {
        try (PageAllocator a = PageAllocator.builder().name("cap-pin").maxOrder(6).backgroundThread(false)
                .node(NodeSpec.fixed(NODE)).node(NodeSpec.hotRemovable(NODE)).node(NodeSpec.hotRemovable(NODE))
                .build()) {
            long h1 = filled(a, 1, 11);
            long h2 = filled(a, 2, 22);
            long h2b = filled(a, 2, 23); // node 1 is the emptiest
            List<long[]> live = List.of(new long[]{h1, 11}, new long[]{h2, 22}, new long[]{h2b, 23});
            try (Pin p = a.pin(h1)) {
                a.setCapacityLimit(2 * NODE);
                // The emptiest node (1) holds the pinned block: its offline rolls back and waits out a backoff, and
                // the governor offlines the next one (2) instead. The pin is never forced.
                assertEquals(2 * NODE, a.pluggedBytes());
                assertEquals(NodeState.ENABLED, a.status().node(1).state(), "the failed offline rolled back");
                assertEquals(NodeState.UNPLUGGED, a.status().node(2).state());
                assertEquals(1, a.nodeOf(h1), "the pinned block did not move");
                assertEquals(11L, p.getLong(0));
            }
            assertEquals("", a.status().governorReport());
            verify(a, live);
        }
    }

    @Test
    void theAgentMeetsALoweredLimitWhileThreadsReadWriteAndPin() throws Exception {
        try (PageAllocator a = allocator("cap-live", true, false, false)) {
            SplittableRandom r = new SplittableRandom(14);
            List<long[]> live = new ArrayList<>();
            for (int i = 0; i < 120; i++) {
                int node = 1 + r.nextInt(4);
                live.add(new long[]{filled(a, node, r.nextLong()), 0});
                live.get(i)[1] = a.getLong(live.get(i)[0], 0);
            }
            AtomicBoolean stop = new AtomicBoolean();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            List<Thread> workers = new ArrayList<>();
            for (int t = 0; t < 2; t++) {
                int id = t;
                Thread w = new Thread(() -> {
                    SplittableRandom wr = new SplittableRandom(100 + id);
                    try {
                        while (!stop.get()) {
                            long[] e = live.get(wr.nextInt(live.size()));
                            long off = 8L * wr.nextInt((int) (BLOCK / 8));
                            switch (wr.nextInt(3)) {
                                case 0 -> assertEquals(e[1] ^ off, a.getLong(e[0], off));
                                case 1 -> a.setLong(e[0], off, e[1] ^ off); // the same value: stays verifiable
                                default -> {
                                    try (Pin p = a.pin(e[0])) {
                                        assertEquals(e[1] ^ off, p.getLong(off));
                                    }
                                }
                            }
                        }
                    } catch (Throwable x) {
                        failure.compareAndSet(null, x);
                    }
                }, "cap-worker-" + t);
                w.start();
                workers.add(w);
            }
            a.setCapacityLimit(3 * NODE); // 120 blocks of 64 KiB (7.5 MiB) fit in two removable nodes
            long deadline = System.nanoTime() + 30_000_000_000L;
            while (a.pluggedBytes() > 3 * NODE && System.nanoTime() < deadline && failure.get() == null) {
                Thread.sleep(20);
            }
            stop.set(true);
            for (Thread w : workers) {
                w.join();
            }
            assertNull(failure.get(), () -> "a worker failed: " + failure.get());
            assertEquals(3 * NODE, a.pluggedBytes(), () -> a.status().render());
            verify(a, live);
            a.checkInvariants();
        }
    }

    @Test
    void elasticCapacityPlugsANodeBeforeAnAllocationWouldFailAndNeverPassesTheLimit() {
        try (PageAllocator a = allocator("cap-grow", false, true, true)) {
            a.setCapacityLimit(NODE + 2 * NODE);
            int blocks = 0;
            List<Long> hs = new ArrayList<>();
            // The fixed node has no MOVABLE zone: HOTREMOVABLE blocks fill its NORMAL zone, then removable nodes
            // plugged on demand.
            while (true) {
                long h = a.tryAllocate(BLOCK, AllocFlags.HOTREMOVABLE, 0);
                if (h == PageAllocator.NULL_HANDLE) {
                    break;
                }
                hs.add(h);
                blocks++;
                assertTrue(a.pluggedBytes() <= 3 * NODE, "plugged " + a.pluggedBytes());
            }
            assertEquals(3 * NODE, a.pluggedBytes(), "two removable nodes were plugged on demand");
            assertEquals(3 * NODE / BLOCK, blocks, "every byte under the limit was used before a failure");
            AllocationFailedException e = assertThrows(AllocationFailedException.class,
                    () -> a.allocate(BLOCK, AllocFlags.HOTREMOVABLE));
            assertTrue(e.getMessage().contains("capacity limit of " + 3 * NODE), e.getMessage());
            for (long h : hs) {
                a.free(h);
            }
            a.checkInvariants();
        }
    }

    @Test
    void elasticCapacityShrinksOnceFreeMemoryStaysHigh() throws Exception {
        try (PageAllocator a = allocator("cap-shrink", true, true, false)) {
            long h = filled(a, 1, 7);
            long deadline = System.nanoTime() + 20_000_000_000L;
            while (a.pluggedBytes() > NODE && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
            // Free memory stays above twice the low watermark without each removable node in turn (one 64 KiB
            // block is all the data), so every one goes, the data moving to the fixed node.
            assertEquals(NODE, a.pluggedBytes(), () -> a.status().render());
            assertEquals(0, a.nodeOf(h));
            assertEquals(7L, a.getLong(h, 0));
            a.checkInvariants();
        }
    }

    @Test
    void aVetoOfGoingOnlineKeepsTheNodeAsItWasAndTheGovernorRespectsIt() {
        try (PageAllocator a = allocator("cap-veto", false, false, true)) {
            Set<Integer> refused = ConcurrentHashMap.newKeySet();
            List<String> calls = new CopyOnWriteArrayList<>();
            a.addListener(new HotplugListener() {
                @Override
                public void onGoingOnline(int node) {
                    calls.add("going " + node);
                    if (refused.contains(node)) {
                        throw new IllegalStateException("node " + node + " is not wanted");
                    }
                }

                @Override
                public void onCancelOnline(int node) {
                    calls.add("cancel " + node);
                }

                @Override
                public void onOnline(int node) {
                    calls.add("online " + node);
                }
            });
            // mem-on-off-test.sh: online all, offline some, online again...
            for (int n = 1; n <= 4; n++) {
                a.plug(n);
                a.enable(n);
            }
            assertEquals(5 * NODE, a.pluggedBytes());
            assertTrue(a.offline(2, java.time.Duration.ofSeconds(5)).complete());
            assertTrue(a.offline(3, java.time.Duration.ofSeconds(5)).complete());
            a.plug(2);
            a.enable(2);
            // ...then an injected GOING_ONLINE error: plug fails with the node still offline.
            refused.add(3);
            calls.clear();
            IllegalStateException plug = assertThrows(IllegalStateException.class, () -> a.plug(3));
            assertTrue(plug.getMessage().contains("vetoed"), plug.getMessage());
            assertEquals(NodeState.UNPLUGGED, a.status().node(3).state());
            assertEquals(List.of("going 3", "cancel 3"), calls);
            // An enable vetoed: the node stays DISABLED.
            refused.clear();
            a.plug(3);
            refused.add(3);
            assertThrows(IllegalStateException.class, () -> a.enable(3));
            assertEquals(NodeState.DISABLED, a.status().node(3).state());
            a.unplug(3);
            // The elastic governor respects it: node 3 stays unplugged and the allocation fails.
            a.setElastic(true);
            List<Long> hs = new ArrayList<>();
            long h;
            while ((h = a.tryAllocate(BLOCK, AllocFlags.HOTREMOVABLE, 0)) != PageAllocator.NULL_HANDLE) {
                hs.add(h);
            }
            assertEquals(NodeState.UNPLUGGED, a.status().node(3).state());
            assertTrue(calls.contains("cancel 3"), calls.toString());
            assertEquals(4 * NODE, a.pluggedBytes());
            for (long x : hs) {
                a.free(x);
            }
        }
    }

    @Test
    void commandsSetTheLimitAndElasticity() {
        try (PageAllocator a = allocator("cap-cmd", false, false, false)) {
            HotplugCommands c = new HotplugCommands(a);
            String out = c.execute("capacity 24");
            assertTrue(out.contains("capacity limit 24 MiB"), out);
            assertEquals(24 * MIB, a.capacityLimit());
            assertEquals(24 * MIB, a.pluggedBytes());
            assertTrue(c.execute("status").contains("Capacity: plugged 24 MiB, limit 24 MiB"));
            assertTrue(c.execute("elastic on").contains("on"));
            assertTrue(a.isElastic());
            c.execute("elastic OFF");
            assertFalse(a.isElastic());
            c.execute("capacity none");
            assertEquals(Long.MAX_VALUE, a.capacityLimit());
            for (String bad : new String[]{"capacity", "capacity -1", "capacity x", "capacity 99999999999999999",
                    "capacity 1 2", "elastic", "elastic maybe"}) {
                long before = a.capacityLimit();
                assertThrows(IllegalArgumentException.class, () -> c.execute(bad), bad);
                assertEquals(before, a.capacityLimit(), bad);
            }
            assertThrows(IllegalArgumentException.class, () -> c.execute("capacity 1"),
                    "below the fixed node: refused by the allocator");
        }
    }

    @Test
    void theMxBeanReadsAndSetsTheLimitAndElasticity() throws Exception {
        javax.management.MBeanServer server = java.lang.management.ManagementFactory.getPlatformMBeanServer();
        javax.management.ObjectName name = new javax.management.ObjectName("io.hotmem:type=PageAllocator,name=cap-jmx");
        try (PageAllocator a = PageAllocator.builder().name("cap-jmx").jmx(true).backgroundThread(false).maxOrder(6)
                .node(NodeSpec.fixed(NODE)).node(NodeSpec.hotRemovable(NODE)).node(NodeSpec.hotRemovable(NODE))
                .build()) {
            assertEquals(Long.MAX_VALUE, server.getAttribute(name, "CapacityLimit"));
            assertEquals(3 * NODE, server.getAttribute(name, "PluggedBytes"));
            assertEquals(false, server.getAttribute(name, "Elastic"));
            server.setAttribute(name, new javax.management.Attribute("CapacityLimit", 2 * NODE));
            assertEquals(2 * NODE, a.capacityLimit());
            assertEquals(2 * NODE, server.getAttribute(name, "PluggedBytes"));
            server.setAttribute(name, new javax.management.Attribute("Elastic", true));
            assertTrue(a.isElastic());
            javax.management.RuntimeMBeanException e = assertThrows(javax.management.RuntimeMBeanException.class,
                    () -> server.setAttribute(name, new javax.management.Attribute("CapacityLimit", -1L)));
            assertTrue(e.getCause() instanceof IllegalArgumentException, String.valueOf(e.getCause()));
            assertEquals(2 * NODE, a.capacityLimit(), "a refused limit changes nothing");
        }
    }
}

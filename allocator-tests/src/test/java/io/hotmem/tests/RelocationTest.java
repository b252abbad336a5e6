package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.FailureReason;
import io.hotmem.HotplugListener;
import io.hotmem.NodeSpec;
import io.hotmem.NodeState;
import io.hotmem.PageAllocator;
import io.hotmem.Pin;
import io.hotmem.RelocationReport;
import io.hotmem.ZoneStatus;
import io.hotmem.ZoneType;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** remap, drain, offline and pinLongTerm: what moves, what stays, and every failure path with its rollback. */
class RelocationTest {
    private static final Duration SHORT = Duration.ofMillis(200);
    private static final Duration LONG = Duration.ofSeconds(10);

    private PageAllocator a;
    private final List<Long> handles = new ArrayList<>();

    @BeforeEach
    void build() {
        a = PageAllocator.builder().maxOrder(8)
                .node(NodeSpec.fixed(8L << 20))           // node 0: Normal[0]
                .node(NodeSpec.hotRemovable(8L << 20))    // node 1: Movable[1]
                .node(NodeSpec.hotRemovable(8L << 20))    // node 2: Movable[2]
                .build();
    }

    @AfterEach
    void close() {
        a.checkInvariants();
        a.close();
    }

    /** Allocates {@code n} movable blocks on {@code node} (THISNODE) with a pattern derived from each handle. */
    private void fill(int node, int n, long size) {
        for (int i = 0; i < n; i++) {
            long h = a.allocate(size, AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE, node);
            for (long off = 0; off + 8 <= size; off += 1024) {
                a.setLong(h, off, h ^ off);
            }
            handles.add(h);
        }
    }

    private void verifyAll() {
        for (long h : handles) {
            long size = a.sizeOf(h);
            for (long off = 0; off + 8 <= size; off += 1024) {
                assertEquals(h ^ off, a.getLong(h, off), "data of 0x" + Long.toHexString(h) + " at " + off);
            }
        }
    }

    private void freeAll() {
        for (long h : handles) {
            a.free(h);
        }
        handles.clear();
    }

    @Test
    void drainMovesEverythingAndTheNodeUnplugs() {
        fill(1, 100, 10_000);
        a.disable(1);
        RelocationReport r = a.drain(1, LONG);
        assertTrue(r.complete(), r.toString());
        assertEquals(100, r.moved());
        assertEquals(100L * 3 * 4096, r.movedBytes(), "10,000 bytes hold 3 pages exactly");
        assertEquals(0, r.remaining());
        assertTrue(r.failures().isEmpty());
        assertTrue(r.pinnedHandles().isEmpty());
        assertEquals(0, a.status().zone(1).activePages());
        for (long h : handles) {
            assertEquals(2, a.nodeOf(h), "moved to the nearest MOVABLE zone (node 2; node 0 has none)");
        }
        a.unplug(1);
        verifyAll();
        freeAll();
    }

    /**
     * More live allocations than one chunk of the handle table holds (8,192): handles on both sides of the chunk
     * boundary read, write and move alike.
     */
    @Test
    void drainOfMoreAllocationsThanOneTableChunkMovesEveryOne() {
        try (PageAllocator big = PageAllocator.builder()
                .node(NodeSpec.hotRemovable(96L << 20))
                .node(NodeSpec.hotRemovable(96L << 20))
                .build()) {
            int n = 20_000;
            long[] hs = new long[n];
            for (int i = 0; i < n; i++) {
                hs[i] = big.allocate(4096, AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE, 0);
                big.setLong(hs[i], 4088, hs[i] * 31 + i);
            }
            big.disable(0);
            RelocationReport r = big.drain(0, LONG);
            assertTrue(r.complete(), r.toString());
            assertEquals(n, r.moved());
            big.unplug(0);
            for (int i = 0; i < n; i++) {
                assertEquals(1, big.nodeOf(hs[i]));
                assertEquals(hs[i] * 31 + i, big.getLong(hs[i], 4088), "allocation " + i);
                big.free(hs[i]);
            }
            big.checkInvariants();
        }
    }

    @Test
    void drainToATargetNode() {
        fill(2, 10, 4096);
        a.disable(2);
        RelocationReport r = a.drain(2, 1, LONG);
        assertTrue(r.complete(), r.toString());
        for (long h : handles) {
            assertEquals(1, a.nodeOf(h), "the target's own zones come first");
        }
        verifyAll();
        a.enable(2);
        a.disable(1);
        r = a.drain(1, 0, LONG);
        assertTrue(r.complete(), r.toString());
        for (long h : handles) {
            assertEquals(0, a.nodeOf(h), "a fixed target takes them in its NORMAL zone, before node 2's MOVABLE one");
        }
        verifyAll();
        a.enable(1);
        a.disable(2);
        a.disable(0);
        r = a.drain(0, 2, LONG);
        assertTrue(r.complete(), r.toString());
        for (long h : handles) {
            assertEquals(1, a.nodeOf(h), "a target that is not ENABLED takes none: by distance from it, node 1");
        }
        a.enable(0);
        a.enable(2);
        freeAll();
    }

    @Test
    void drainRefusesWrongStatesAndArguments() {
        assertTrue(assertThrows(IllegalStateException.class, () -> a.drain(1, LONG)).getMessage()
                .contains("disable it first"));
        a.disable(1);
        a.unplug(1);
        assertTrue(assertThrows(IllegalStateException.class, () -> a.drain(1, LONG)).getMessage()
                .contains("unplugged"));
        assertThrows(IllegalArgumentException.class, () -> a.drain(7, LONG));
        a.disable(2);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> a.drain(2, 2, LONG)).getMessage()
                .contains("target node 2"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> a.drain(2, Duration.ofSeconds(-1)))
                .getMessage().contains("negative"));
        assertThrows(IllegalArgumentException.class, () -> a.remap(9, LONG));
        assertThrows(IllegalStateException.class, () -> a.remap(1, LONG)); // node 1 unplugged
        assertThrows(IllegalStateException.class, () -> a.offline(0, LONG)); // not hot-removable
    }

    @Test
    void remapEmptiesAZoneOfAnEnabledNodeAndNeverMovesBackIntoIt() {
        fill(1, 50, 8192);
        RelocationReport r = a.remap(1, LONG);
        assertTrue(r.complete(), r.toString());
        assertEquals(0, a.status().zone(1).activePages());
        for (long h : handles) {
            assertNotEquals(1, a.zoneOf(h));
        }
        assertEquals(NodeState.ENABLED, a.status().node(1).state(), "remap leaves the node's state alone");
        long fresh = a.allocate(4096, AllocFlags.HOTREMOVABLE, 1);
        assertEquals(1, a.zoneOf(fresh), "the zone serves allocations again after the remap");
        a.free(fresh);
        verifyAll();
        freeAll();
    }

    @Test
    void remapLeavesNonMovableAllocationsAndSaysSo() {
        long fixed = a.allocate(4096, AllocFlags.NONE, 0);
        long movable = a.allocate(4096, AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE, 0); // Normal[0] fallback
        assertEquals(ZoneType.NORMAL, a.status().zone(a.zoneOf(movable)).type());
        a.setLong(movable, 0, 77);
        RelocationReport r = a.remap(0, SHORT);
        assertFalse(r.complete());
        assertEquals(1, r.moved());
        assertEquals(1, r.remaining());
        assertEquals(1, r.failures().get(FailureReason.UNMOVABLE), r.toString());
        assertTrue(r.elapsed().compareTo(SHORT) < 0, "no waiting for blocks that can never move: " + r);
        assertEquals(1, a.nodeOf(movable));
        assertEquals(77, a.getLong(movable, 0));
        a.free(fixed);
        a.free(movable);
    }

    @Test
    void pinHeldPastTheDeadlineIsReportedAndNothingIsLost() {
        fill(1, 20, 4096);
        long pinnedHandle = handles.get(7);
        Pin pin = a.pin(pinnedHandle);
        pin.setLong(8, 1234);
        a.disable(1);
        RelocationReport r = a.drain(1, SHORT);
        assertFalse(r.complete());
        assertEquals(19, r.moved());
        assertEquals(1, r.remaining());
        assertEquals(List.of(pinnedHandle), r.pinnedHandles());
        assertEquals(1, r.stragglers().getFirst().pins());
        assertEquals(1, r.failures().get(FailureReason.PINNED));
        assertEquals(1, r.failures().get(FailureReason.TIMED_OUT));
        assertTrue(r.elapsed().compareTo(SHORT) >= 0, "it waited until the deadline: " + r.elapsed());
        assertTrue(r.toString().contains(Long.toHexString(pinnedHandle)), r.toString());
        assertEquals(NodeState.DISABLED, a.status().node(1).state());
        assertEquals(1, a.nodeOf(pinnedHandle));
        assertThrows(IllegalStateException.class, () -> a.unplug(1));
        pin.close();
        r = a.drain(1, LONG);
        assertTrue(r.complete(), r.toString());
        assertEquals(1, r.moved());
        assertEquals(1234, a.getLong(pinnedHandle, 8));
        a.unplug(1);
        handles.remove(pinnedHandle);
        assertEquals(1234, a.getLong(pinnedHandle, 8));
        a.free(pinnedHandle);
        verifyAll();
        freeAll();
    }

    @Test
    void offlineRunsTheWholeSequenceAndTellsListeners() {
        List<String> events = new CopyOnWriteArrayList<>();
        HotplugListener l = new HotplugListener() {
            @Override
            public void onGoingOffline(int node) {
                events.add("going " + node + " " + a.status().node(node).state());
            }

            @Override
            public void onOffline(int node) {
                events.add("offline " + node);
            }

            @Override
            public void onOnline(int node) {
                events.add("online " + node);
            }
        };
        a.addListener(l);
        fill(1, 30, 20_000);
        RelocationReport r = a.offline(1, LONG);
        assertTrue(r.complete(), r.toString());
        assertEquals(30, r.moved());
        assertEquals(NodeState.UNPLUGGED, a.status().node(1).state());
        assertEquals(List.of("going 1 DISABLED", "offline 1"), events);
        verifyAll();
        a.plug(1);
        a.enable(1);
        assertEquals("online 1", events.getLast());
        a.removeListener(l);
        a.disable(1);
        a.enable(1);
        assertEquals(3, events.size(), "a removed listener hears nothing");
        freeAll();
    }

    @Test
    void listenerVetoRollsBack() {
        List<String> events = new CopyOnWriteArrayList<>();
        a.addListener(new HotplugListener() {
            @Override
            public void onGoingOffline(int node) {
                throw new IllegalStateException("busy with node " + node);
            }

            @Override
            public void onCancelOffline(int node) {
                events.add("cancel " + node);
            }
        });
        fill(1, 5, 4096);
        RelocationReport r = a.offline(1, LONG);
        assertFalse(r.complete());
        assertEquals(Integer.valueOf(1), r.failures().get(FailureReason.VETOED));
        assertEquals(0, r.moved());
        assertEquals(NodeState.ENABLED, a.status().node(1).state(), "ENABLED stays ENABLED");
        assertEquals(List.of("cancel 1"), events);
        verifyAll();
        a.disable(1);
        r = a.offline(1, LONG);
        assertEquals(NodeState.DISABLED, a.status().node(1).state(), "DISABLED stays DISABLED");
        freeAll();
    }

    @Test
    void offlineWithAPinnedBlockRollsBackToEnabled() {
        List<String> events = new CopyOnWriteArrayList<>();
        a.addListener(new HotplugListener() {
            @Override
            public void onCancelOffline(int node) {
                events.add("cancel " + node);
            }
        });
        fill(2, 10, 4096);
        try (Pin ignored = a.pin(handles.getFirst())) {
            RelocationReport r = a.offline(2, Duration.ofMillis(50));
            assertFalse(r.complete());
            assertEquals(9, r.moved());
            assertTrue(r.failures().containsKey(FailureReason.TIMED_OUT), r.toString());
            assertEquals(NodeState.ENABLED, a.status().node(2).state());
            assertEquals(List.of("cancel 2"), events);
        }
        verifyAll();
        RelocationReport r = a.offline(2, LONG);
        assertTrue(r.complete(), r.toString());
        freeAll();
    }

    @Test
    void targetMemoryExhaustedMidDrainLosesNothing() {
        // Node 2 full but for 5 blocks, node 0's Normal zone full: 20 blocks on node 1 cannot all move.
        List<Long> fillers = new ArrayList<>();
        while (true) {
            long h = a.tryAllocate(1L << 20, AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE, 2);
            if (h == PageAllocator.NULL_HANDLE) {
                break;
            }
            fillers.add(h);
        }
        while (true) {
            long h = a.tryAllocate(1L << 20, AllocFlags.NONE, 0);
            if (h == PageAllocator.NULL_HANDLE) {
                break;
            }
            fillers.add(h);
        }
        fill(1, 20, 64 * 1024);
        // Free 5 x 64 KiB on node 2 by freeing one 1 MiB filler and taking back all but 320 KiB of it.
        a.free(fillers.removeFirst()); // a node-2 filler
        for (int i = 0; i < 16 - 5; i++) {
            fillers.add(a.allocate(64 * 1024, AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE, 2));
        }
        a.disable(1);
        RelocationReport r = a.drain(1, Duration.ofMillis(30));
        assertFalse(r.complete());
        assertEquals(5, r.moved(), r.toString());
        assertEquals(15, r.remaining());
        assertEquals(15, r.failures().get(FailureReason.NO_MEMORY), r.toString());
        verifyAll();
        for (long h : fillers) {
            a.free(h);
        }
        r = a.drain(1, LONG);
        assertTrue(r.complete(), r.toString());
        verifyAll();
        freeAll();
    }

    @Test
    void interruptStopsTheDrainAndKeepsTheFlag() throws Exception {
        fill(1, 50, 4096);
        Pin pin = a.pin(handles.get(3));
        AtomicReference<RelocationReport> report = new AtomicReference<>();
        AtomicReference<Boolean> flag = new AtomicReference<>();
        Thread t = Thread.ofPlatform().start(() -> {
            report.set(a.offline(1, Duration.ofSeconds(30)));
            flag.set(Thread.currentThread().isInterrupted());
        });
        while (a.status().zone(1).activePages() > 1) {
            Thread.sleep(1);
        }
        t.interrupt();
        t.join(10_000);
        assertFalse(t.isAlive());
        RelocationReport r = report.get();
        assertFalse(r.complete());
        assertEquals(1, r.failures().get(FailureReason.INTERRUPTED), r.toString());
        assertTrue(flag.get(), "the interrupt flag is kept");
        assertEquals(NodeState.ENABLED, a.status().node(1).state(), "rolled back");
        pin.close();
        verifyAll();
        freeAll();
    }

    @Test
    void withNoZoneToMoveToADrainEndsAtOnce() {
        fill(1, 3, 4096);
        a.disable(0);
        a.disable(2);
        a.disable(1);
        RelocationReport r = a.drain(1, Duration.ofMinutes(10));
        assertFalse(r.complete());
        assertEquals(3, r.failures().get(FailureReason.NO_MEMORY), r.toString());
        assertTrue(r.elapsed().compareTo(Duration.ofSeconds(5)) < 0, "no zone can ever appear mid-drain: " + r);
        a.enable(0);
        a.enable(2);
        a.enable(1);
        verifyAll();
        freeAll();
    }

    @Test
    void pinLongTermLeavesRemovableMemoryFirst() {
        fill(1, 3, 4096);
        long h = handles.get(1);
        assertEquals(ZoneType.MOVABLE, a.status().zone(a.zoneOf(h)).type());
        try (Pin lt = a.pinLongTerm(h)) {
            assertEquals(0, a.zoneOf(h), "moved into Normal[0]");
            assertEquals(h ^ 1024, lt.getLong(1024));
            RelocationReport r = a.offline(1, LONG);
            assertTrue(r.complete(), "a long-term pin never blocks an unplug: " + r);
        }
        verifyAll();
        try (Pin again = a.pinLongTerm(h)) {
            assertEquals(0, a.zoneOf(h), "already NORMAL: pinned in place");
            assertEquals(h, again.handle());
        }
        freeAll();
    }

    /**
     * pinLongTerm into a NORMAL zone with enough free pages but no free block large enough (movable single pages
     * scattered through it): the zone is compacted first, as an allocation would compact it, and the pin lands there;
     * before, it failed with AllocationFailedException although half the zone was free.
     */
    @Test
    void pinLongTermCompactsAFragmentedNormalZoneFirst() {
        try (PageAllocator b = PageAllocator.builder().name("longterm-compact").maxOrder(4)
                .backgroundThread(false).threadCacheMaxOrder(-1)
                .node(NodeSpec.fixed(1L << 20))           // node 0: Normal[0], 256 pages
                .node(NodeSpec.hotRemovable(1L << 20))    // node 1: Movable[1]
                .build()) {
            List<Long> singles = new ArrayList<>();
            long s;
            while ((s = b.tryAllocate(4096, AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE, 0))
                    != PageAllocator.NULL_HANDLE) {
                singles.add(s);
            }
            assertEquals(256, singles.size(), "Normal[0] is full of single pages");
            for (int i = 0; i < singles.size(); i += 2) {
                b.free(singles.get(i));
            }
            ZoneStatus normal = b.status().zone(0);
            assertEquals(128, normal.freePages());
            for (int order = 1; order < normal.freeBlocks().size(); order++) {
                assertEquals(0, normal.freeBlocks().get(order), "no free block above order 0: " + normal);
            }
            long h = b.allocate(4 * 4096, AllocFlags.HOTREMOVABLE, 1); // an exact run of 4 pages: an order-2 block
            b.setLong(h, 8, 42L);
            try (Pin p = b.pinLongTerm(h)) {
                assertEquals(0, b.nodeOf(h), "in Normal[0], after compacting it");
                assertEquals(42L, p.getLong(8));
            }
            for (int i = 1; i < singles.size(); i += 2) {
                b.free(singles.get(i));
            }
            b.free(h);
            b.checkInvariants();
        }
    }

    @Test
    void pinLongTermWithoutNormalMemoryFails() {
        List<Long> big = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            big.add(a.allocate(1L << 20, AllocFlags.NONE, 0));
        }
        fill(1, 1, 4096);
        assertThrows(io.hotmem.AllocationFailedException.class, () -> a.pinLongTerm(handles.getFirst()));
        assertEquals(1, a.nodeOf(handles.getFirst()));
        big.forEach(a::free);
        verifyAll();
        freeAll();
    }
}

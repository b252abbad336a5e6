package io.hotmem.tests;

import io.hotmem.*;
import io.hotmem.AllocFlags;
import io.hotmem.MemoryBacking;
import io.hotmem.NodeSpec;
import io.hotmem.NodeState;
import io.hotmem.PageAllocator;
import io.hotmem.ZoneStatus;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.*;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.*;
import java.util.concurrent.atomic.*;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * What the third adversarial review (branch review-c) tried that held: the controls of {@link ThirdReviewDefectTest}
 * and probes of feature interactions that found nothing.
 */
class ThirdReviewHeldTest {
    private static final long MIB = 1L << 20;
    private static final int PAGE = 4096;

    /** Control of the interrupted-elastic defect: without the interrupt the same allocation plugs node 1. */
    @Test
    void anAllocationGrowsAnElasticAllocator() {
        try (PageAllocator a = ThirdReviewDefectTest.elasticWithNode1Unplugged("rc-held-elastic")) {
            ThirdReviewDefectTest.fillNode0(a);
            long got = a.allocate(16 * PAGE, AllocFlags.HOTREMOVABLE);
            assertEquals(1, a.nodeOf(got));
            assertEquals(NodeState.ENABLED, a.status().node(1).state());
        }
    }

    /** Control of the interrupted-compaction defect: without the interrupt direct compaction serves the order-1 block. */
    @Test
    void anAllocationCompactsAFragmentedZone() {
        try (PageAllocator a = PageAllocator.builder().name("rc-held-compact").pageSize(PAGE).maxOrder(4)
                .backgroundThread(false).threadCacheMaxOrder(-1)
                .node(NodeSpec.hotRemovable(MIB))
                .build()) {
            ThirdReviewDefectTest.fragmentEveryOtherPage(a);
            assertEquals(0, a.status().zone(0).largestFreeOrder());
            a.free(a.allocate(2 * PAGE, AllocFlags.HOTREMOVABLE));
            a.checkInvariants();
        }
    }

    /**
     * Held: an ARENA zone counts nothing as purged. With ARENA backing "the range is allocated at once (resident)" and "ARENA backing cannot return memory"
     * (README; DESIGN: "Arena.ofShared().allocate(size, pageSize) (zero-filled, fully resident)"), so no free page of
     * such an allocator is ever back with the OS or untouched. Yet {@code status()} counts every page of a new zone
     * as {@code purged} ("free pages whose memory is back with the OS, or never touched"): {@code Zone.plugLocked}
     * marks fresh memory purged whatever the backing, so {@code free - purged}, documented as the upper bound of the
     * resident free pages, says 0 of a fully resident zone, and a capacity view built on it is wrong by the whole
     * zone. The same after an unplug and plug ({@code ArenaRange.release} only zero-fills: still resident).
     */
    @Test
    void anArenaZoneCountsNoResidentMemoryAsPurged() {
        try (PageAllocator a = PageAllocator.builder().name("rc-arena-purged").pageSize(PAGE).maxOrder(4)
                .backing(MemoryBacking.ARENA).backgroundThread(false).threadCacheMaxOrder(-1)
                .node(NodeSpec.fixed(MIB))
                .node(NodeSpec.hotRemovable(MIB))
                .build()) {
            ZoneStatus z = a.status().zone(0);
            assertEquals(0, z.purgedPages(), "an ARENA zone, resident from the build on, reports purged pages: "
                    + z.render());
            a.disable(1);
            a.unplug(1);
            a.plug(1);
            ZoneStatus z1 = a.status().zone(1);
            assertEquals(0, z1.purgedPages(), "an ARENA zone plugged again (its memory zero-filled, never returned) "
                    + "reports purged pages: " + z1.render());
        }
    }

    /** Held: ALIGNED blocks keep their alignment across compaction, drain and pinLongTerm; allocations of maxAllocationBytes move and bad sizes/flags change nothing; a pin segment taken before an unplug throws after the node is plugged again (every leak level); PARANOID leak records follow drains, replugs and long-term pins. */
    @Nested
    class EdgeCases {
        static final long MIB = 1L << 20;

        static void consistent(PageAllocator a, String when) {
            for (NodeStatus n : a.status().nodes()) {
                for (ZoneStatus z : n.zones()) {
                    assertEquals(z.presentPages(), z.freePages() + z.activePages(), when + ": " + z.render());
                    assertTrue(z.cachedPages() <= z.freePages(), when + ": " + z.render());
                    assertTrue(z.purgedPages() <= z.freePages(), when + ": " + z.render());
                    long sum = 0;
                    for (int k = 0; k < z.freeBlocks().size(); k++) sum += (long) z.freeBlocks().get(k) << k;
                    assertEquals(z.freePages() - z.cachedPages(), sum, when + ": buddyinfo " + z.freeBlocks() + " " + z.render());
                }
            }
            a.checkInvariants();
        }

        @Test
        void alignedKeepsAlignmentAcrossDrainCompactAndLongTermPin() throws Exception {
            try (PageAllocator a = PageAllocator.builder().name("p-aligned").pageSize(4096).maxOrder(6)
                    .backgroundThread(false)
                    .node(NodeSpec.fixed(4 * MIB))
                    .node(NodeSpec.hotRemovable(4 * MIB))
                    .node(NodeSpec.hotRemovable(4 * MIB)).build()) {
                List<Long> hs = new ArrayList<>();
                List<Long> filler = new ArrayList<>();
                for (int i = 0; i < 20; i++) {
                    filler.add(a.allocate(4096, AllocFlags.HOTREMOVABLE, 1));
                    long h = a.allocate(3 * 4096 + 1, AllocFlags.HOTREMOVABLE | AllocFlags.ALIGNED, 1);
                    hs.add(h);
                    a.setLong(h, 0, i);
                }
                for (long f : filler) a.free(f);
                long block = 4 * 4096;
                for (long h : hs) try (Pin p = a.pin(h)) { assertEquals(0, p.segment().address() % block, "before"); }
                RelocationReport r = a.compact(a.zoneOf(hs.get(0)), Duration.ofSeconds(5));
                for (long h : hs) try (Pin p = a.pin(h)) { assertEquals(0, p.segment().address() % block, "after compact " + r); }
                a.disable(1);
                r = a.drain(1, Duration.ofSeconds(5));
                assertTrue(r.complete(), r.toString());
                for (long h : hs) try (Pin p = a.pin(h)) { assertEquals(0, p.segment().address() % block, "after drain"); }
                for (long h : hs) try (Pin p = a.pinLongTerm(h)) { assertEquals(0, p.segment().address() % block, "after long-term pin"); }
                for (int i = 0; i < hs.size(); i++) assertEquals(i, a.getLong(hs.get(i), 0));
                consistent(a, "end");
                for (long h : hs) a.free(h);
                consistent(a, "freed");
            }
        }

        @Test
        void maxSizedAllocationsMoveAndBadSizesChangeNothing() {
            try (PageAllocator a = PageAllocator.builder().name("p-max").pageSize(4096).maxOrder(8)
                    .backgroundThread(false)
                    .node(NodeSpec.fixed(2 * MIB))
                    .node(NodeSpec.hotRemovable(2 * MIB))
                    .node(NodeSpec.hotRemovable(2 * MIB)).build()) {
                long max = a.maxAllocationBytes();
                String before = a.status().render();
                for (long bad : new long[] {0, -1, max + 1, Long.MAX_VALUE, Long.MIN_VALUE}) {
                    for (int fl : new int[] {0, AllocFlags.HOTREMOVABLE, AllocFlags.ALIGNED | AllocFlags.ZERO}) {
                        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> a.allocate(bad, fl));
                        assertTrue(e.getMessage().contains(Long.toString(bad)), e.getMessage());
                        assertThrows(IllegalArgumentException.class, () -> a.tryAllocate(bad, fl, 1));
                    }
                }
                for (int fl : new int[] {-1, 1 << 20, Integer.MIN_VALUE}) {
                    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> a.allocate(4096, fl));
                }
                assertEquals(before, a.status().render());
                long h = a.allocate(max, AllocFlags.HOTREMOVABLE | AllocFlags.ZERO, 1);
                a.setByte(h, max - 1, (byte) 7);
                a.setLong(h, max - 8 - 1, 99);
                assertThrows(IndexOutOfBoundsException.class, () -> a.setByte(h, max, (byte) 1));
                assertThrows(IndexOutOfBoundsException.class, () -> a.getLong(h, max - 7));
                a.disable(1);
                RelocationReport r = a.drain(1, Duration.ofSeconds(5));
                assertTrue(r.complete(), r.toString());
                assertEquals(7, a.getByte(h, max - 1));
                assertEquals(99, a.getLong(h, max - 9));
                assertEquals(2, a.nodeOf(h));
                long h2 = a.allocate(max - 4095, AllocFlags.HOTREMOVABLE | AllocFlags.ALIGNED, 2);
                consistent(a, "two max blocks");
                a.free(h); a.free(h2);
                consistent(a, "freed");
            }
        }

        @Test
        void segmentTakenBeforeUnplugDoesNotSeeTheReplugedNode() {
            for (LeakDetection lvl : LeakDetection.values()) {
                try (PageAllocator a = PageAllocator.builder().name("p-seg-" + lvl).pageSize(4096).maxOrder(4)
                        .backgroundThread(false).leakDetection(lvl)
                        .node(NodeSpec.fixed(MIB))
                        .node(NodeSpec.hotRemovable(MIB)).build()) {
                    long h = a.allocate(4096, AllocFlags.HOTREMOVABLE, 1);
                    a.setLong(h, 0, 1234);
                    MemorySegment s;
                    Pin p = a.pin(h);
                    s = p.segment();
                    assertEquals(1234, s.get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, 0));
                    p.close();
                    a.disable(1);
                    assertTrue(a.drain(1, Duration.ofSeconds(5)).complete());
                    a.unplug(1);
                    a.plug(1);
                    a.enable(1);
                    long h2 = a.allocate(4096, AllocFlags.HOTREMOVABLE, 1);
                    a.setLong(h2, 0, 5678);
                    MemorySegment ss = s;
                    Throwable t = null;
                    try { long v = ss.get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, 0);
                          fail(lvl + ": a segment taken before the unplug reads the replugged node: " + v); }
                    catch (IllegalStateException expected) { }
                    assertEquals(1234, a.getLong(h, 0));
                    a.free(h); a.free(h2);
                    consistent(a, lvl.toString());
                }
            }
        }

        @Test
        void paranoidLeakReportAfterMovesAndFrees() throws Exception {
            try (PageAllocator a = PageAllocator.builder().name("p-leaks").pageSize(4096).maxOrder(4)
                    .backgroundThread(false).leakDetection(LeakDetection.PARANOID)
                    .node(NodeSpec.fixed(MIB))
                    .node(NodeSpec.hotRemovable(MIB))
                    .node(NodeSpec.hotRemovable(MIB)).build()) {
                List<Long> hs = new ArrayList<>();
                for (int i = 0; i < 50; i++) hs.add(a.allocate(4096 * (1 + i % 3), AllocFlags.HOTREMOVABLE, 1));
                for (int cycle = 0; cycle < 3; cycle++) {
                    int from = 1 + cycle % 2, to = 3 - from;
                    a.disable(from);
                    assertTrue(a.drain(from, Duration.ofSeconds(5)).complete());
                    a.unplug(from);
                    a.plug(from); a.enable(from);
                    for (long h : hs) { try (Pin p = a.pinLongTerm(h)) { p.setLong(0, h); } }
                    a.remap(0, Duration.ofSeconds(5));
                }
                LeakReport lr = a.leaks();
                long count = lr.liveAllocations().stream().mapToLong(s -> s.count()).sum();
                assertEquals(50, count, lr.render());
                for (long h : hs) { assertEquals(h, a.getLong(h, 0)); a.free(h); }
                lr = a.leaks();
                count = lr.liveAllocations().stream().mapToLong(s -> s.count()).sum();
                assertEquals(0, count, lr.render());
                consistent(a, "end");
            }
        }
    }

    /** Held: HotplugCommands (every verb, capacity and elastic included) and addNode driven at random while two threads churn and verify movable data, at three leak detection levels. */
    @Nested
    class CommandsWhileChurning {
        static final long MIB = 1L << 20;

        @ParameterizedTest
        @ValueSource(strings = {"DISABLED", "PARANOID", "SAMPLED"})
        void commandsWhileChurning(String level) throws Exception {
            AtomicBoolean stop = new AtomicBoolean();
            Queue<Throwable> errors = new ConcurrentLinkedQueue<>();
            List<String> log = Collections.synchronizedList(new ArrayList<>());
            try (PageAllocator a = PageAllocator.builder().name("fz-" + level).pageSize(4096).maxOrder(6)
                    .leakDetection(LeakDetection.valueOf(level)).purgeAfter(Duration.ofMillis(20))
                    .residentFreeLimit(0.5)
                    .node(NodeSpec.fixed(4 * MIB).movableBytes(MIB))
                    .node(NodeSpec.hotRemovable(2 * MIB))
                    .node(NodeSpec.hotRemovable(2 * MIB))
                    .node(NodeSpec.hotRemovable(2 * MIB).startUnplugged())
                    .build()) {
                Thread[] ts = new Thread[2];
                for (int i = 0; i < ts.length; i++) {
                    int flags = AllocFlags.HOTREMOVABLE | (i == 1 ? AllocFlags.ZERO : 0);
                    ts[i] = new Thread(new MovableChurn(a, 42 + i, 1_000_000L * (i + 1), 150, 3 * 4096 + 100, flags,
                            i + 1, 7, stop, errors), "churn-" + i);
                    ts[i].start();
                }
                HotplugCommands cmd = new HotplugCommands(a);
                SplittableRandom rnd = new SplittableRandom(7);
                String[] verbs = {"plug", "enable", "disable", "unplug", "drain", "offline", "remap", "compact", "trim",
                        "capacity", "elastic", "status", "buddyinfo", "leaks"};
                long end = System.nanoTime() + 5_000_000_000L;
                int added = 0;
                while (System.nanoTime() < end && errors.isEmpty()) {
                    String v = verbs[rnd.nextInt(verbs.length)];
                    int n = rnd.nextInt(a.nodeCount() + 1);
                    String line = switch (v) {
                        case "drain", "offline" -> v + " " + n + " 0.2";
                        case "remap", "compact" -> v + " " + rnd.nextInt(a.nodeCount() + 2) + " 0.2";
                        case "capacity" -> v + " " + (rnd.nextBoolean() ? "none" : Integer.toString(6 + rnd.nextInt(6)));
                        case "elastic" -> v + (rnd.nextBoolean() ? " on" : " off");
                        case "trim", "status", "buddyinfo", "leaks" -> v;
                        default -> v + " " + n;
                    };
                    try {
                        log.add(line + " -> " + cmd.execute(line).lines().findFirst().orElse(""));
                    } catch (IllegalArgumentException | IllegalStateException e) {
                        log.add(line + " !! " + e.getMessage().lines().findFirst().orElse(""));
                    } catch (Throwable t) {
                        errors.add(new AssertionError("'" + line + "' threw " + t, t));
                    }
                    if (rnd.nextInt(200) == 0 && added < 2) {
                        try { a.addNode(NodeSpec.hotRemovable(MIB).startDisabled()); added++; } catch (IllegalStateException ok) { }
                    }
                    if (rnd.nextInt(20) == 0) {
                        try { a.checkInvariants(); } catch (Throwable t) { errors.add(t); }
                        MemoryStatus s = a.status();
                        for (NodeStatus ns : s.nodes()) for (ZoneStatus z : ns.zones()) {
                            if (z.freePages() + z.activePages() != z.presentPages()) errors.add(new AssertionError(z.render()));
                        }
                    }
                }
                stop.set(true);
                for (Thread t : ts) t.join(20_000);
                a.setCapacityLimit(Long.MAX_VALUE);
                a.setElastic(false);
                if (!errors.isEmpty()) {
                    Throwable t = errors.peek();
                    int from = Math.max(0, log.size() - 30);
                    fail(level + ": " + t + "\nlast commands:\n" + String.join("\n", log.subList(from, log.size())), t);
                }
                a.trimCaches();
                a.checkInvariants();
                for (NodeStatus ns : a.status().nodes()) for (ZoneStatus z : ns.zones()) {
                    assertEquals(0, z.activePages(), "after everything was freed: " + a.status().render());
                }
                LeakReport lr = a.leaks();
                assertEquals(0, lr.liveAllocations().stream().mapToLong(LeakReport.Site::count).sum(), lr.render());
            }
        }
    }

    /** Held: Readers (getLong, both scoped reads, pin segments) never see a foreign or torn value while an owner frees and reuses slots and an operator offlines/replugs, remaps, compacts, trims and takes long-term pins. */
    @Nested
    class ReadersUnderRelocation {
        static final long MIB = 1L << 20;
        static final int SLOTS = 256;

        static long stamp(long h, long off) { return h * 31 + off; }

        @ParameterizedTest
        @ValueSource(strings = {"DISABLED", "PARANOID"})
        void readersNeverSeeForeignOrTornValues(String level) throws Exception {
            AtomicBoolean stop = new AtomicBoolean();
            Queue<Throwable> errors = new ConcurrentLinkedQueue<>();
            AtomicLongArray shared = new AtomicLongArray(SLOTS);
            AtomicLongArray sizes = new AtomicLongArray(SLOTS);
            AtomicLong reads = new AtomicLong();
            try (PageAllocator a = PageAllocator.builder().name("fz2-" + level).pageSize(4096).maxOrder(5)
                    .leakDetection(LeakDetection.valueOf(level)).purgeAfter(Duration.ofMillis(10))
                    .residentFreeLimit(0.0)
                    .node(NodeSpec.fixed(2 * MIB).movableBytes(MIB))
                    .node(NodeSpec.hotRemovable(2 * MIB))
                    .node(NodeSpec.hotRemovable(2 * MIB))
                    .build()) {
                Thread owner = new Thread(() -> {
                    SplittableRandom r = new SplittableRandom(1);
                    try {
                        while (!stop.get()) {
                            int i = r.nextInt(SLOTS);
                            long old = shared.get(i);
                            if (old != 0) {
                                shared.set(i, 0);
                                while (true) {
                                    try { a.free(old); break; }
                                    catch (IllegalStateException pinned) { Thread.onSpinWait(); }
                                }
                            } else {
                                long size = 8 * (1 + r.nextInt(3 * 512 + 100));
                                int fl = AllocFlags.HOTREMOVABLE | (r.nextInt(4) == 0 ? AllocFlags.ALIGNED : 0);
                                long h;
                                try { h = a.allocate(size, fl, 1 + r.nextInt(2)); }
                                catch (AllocationFailedException full) { continue; }
                                try (Pin p = a.pin(h)) {
                                    for (long off = 0; off < size; off += 8) p.setLong(off, stamp(h, off));
                                }
                                sizes.set(i, size);
                                shared.set(i, h);
                            }
                        }
                    } catch (Throwable t) { errors.add(t); }
                }, "owner");
                Thread[] readers = new Thread[2];
                for (int k = 0; k < readers.length; k++) {
                    int kk = k;
                    readers[k] = new Thread(() -> {
                        SplittableRandom r = new SplittableRandom(100 + kk);
                        try {
                            while (!stop.get()) {
                                int i = r.nextInt(SLOTS);
                                long h = shared.get(i);
                                if (h == 0) continue;
                                long size = sizes.get(i);
                                try {
                                    long sz = a.sizeOf(h);
                                    if (sz % 8 != 0) throw new AssertionError("size " + sz);
                                    long off = 8L * r.nextInt((int) (sz / 8));
                                    switch (r.nextInt(4)) {
                                        case 0 -> { long v = a.getLong(h, off);
                                            if (v != stamp(h, off)) throw new AssertionError("getLong " + Long.toHexString(h) + "@" + off + " = " + v); }
                                        case 1 -> { long bad = a.readAsLong(h, s -> {
                                                for (long o = 0; o < s.byteSize(); o += 8)
                                                    if (s.get(ValueLayout.JAVA_LONG_UNALIGNED, o) != stamp(h, o)) return o + 1;
                                                return 0; });
                                            if (bad != 0) throw new AssertionError("readAsLong " + Long.toHexString(h) + " wrong at " + (bad - 1)); }
                                        case 2 -> { long len = Math.min(64, sz - off);
                                            long bad = a.readAsLong(h, off, len, s -> {
                                                for (long o = 0; o < s.byteSize(); o += 8)
                                                    if (s.get(ValueLayout.JAVA_LONG_UNALIGNED, o) != stamp(h, off + o)) return o + 1;
                                                return 0; });
                                            if (bad != 0) throw new AssertionError("readAsLong range " + Long.toHexString(h) + " wrong at " + (off + bad - 1)); }
                                        default -> { try (Pin p = a.pin(h)) {
                                            MemorySegment s = p.segment();
                                            if (s.byteSize() != sz) throw new AssertionError("pin segment size " + s.byteSize() + " != " + sz);
                                            long v = s.get(ValueLayout.JAVA_LONG_UNALIGNED, off);
                                            if (v != stamp(h, off)) throw new AssertionError("pin " + Long.toHexString(h) + "@" + off + " = " + v);
                                        } }
                                    }
                                    reads.incrementAndGet();
                                } catch (StaleHandleException freed) {
                                    // freed meanwhile
                                } catch (IllegalStateException e) {
                                    if (!String.valueOf(e.getMessage()).contains("MAX_PINS")) { /* pin limits etc */ }
                                }
                            }
                        } catch (Throwable t) { errors.add(t); }
                    }, "reader-" + k);
                }
                owner.start();
                for (Thread t : readers) t.start();
                SplittableRandom r = new SplittableRandom(9);
                List<String> log = new ArrayList<>();
                long end = System.nanoTime() + 4_000_000_000L;
                while (System.nanoTime() < end && errors.isEmpty()) {
                    int n = 1 + r.nextInt(2);
                    try {
                        switch (r.nextInt(6)) {
                            case 0 -> { log.add("offline " + n); RelocationReport rep = a.offline(n, Duration.ofMillis(300)); log.add(rep.toString());
                                        if (a.status().node(n).state() == NodeState.UNPLUGGED) { a.plug(n); a.enable(n); log.add("replug " + n); } }
                            case 1 -> { log.add("remap"); a.remap(r.nextInt(4), Duration.ofMillis(200)); }
                            case 2 -> { log.add("compact"); a.compact(r.nextInt(4), Duration.ofMillis(200)); }
                            case 3 -> { long h = shared.get(r.nextInt(SLOTS)); if (h != 0) try (Pin p = a.pinLongTerm(h)) { Thread.sleep(2); } }
                            case 4 -> { log.add("trim"); a.trimCaches(); }
                            default -> { a.checkInvariants(); }
                        }
                    } catch (IllegalStateException | AllocationFailedException e) {
                        log.add("refused: " + e.getMessage());
                    }
                }
                stop.set(true);
                owner.join(10_000);
                for (Thread t : readers) t.join(10_000);
                if (!errors.isEmpty()) {
                    Throwable t = errors.peek();
                    fail(level + " after " + reads.get() + " reads: " + t + "\n" + String.join("\n", log.subList(Math.max(0, log.size() - 15), log.size())), t);
                }
                assertTrue(reads.get() > 1000, "reads " + reads.get());
                a.checkInvariants();
            }
        }
    }
}

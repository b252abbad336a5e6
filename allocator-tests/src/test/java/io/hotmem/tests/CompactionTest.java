package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.FailureReason;
import io.hotmem.HotplugCommands;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import io.hotmem.Pin;
import io.hotmem.RelocationReport;
import io.hotmem.ZoneStatus;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.management.MBeanServer;
import javax.management.ObjectName;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Compaction ({@code compact}, direct, background) and the per-order view ({@code buddyinfo}): what moves, what
 * stays, that nothing is lost under concurrent use, and the errors for bad input.
 */
class CompactionTest {
    private static final int MAX_ORDER = 6;                 // 256 KiB blocks of 4 KiB pages
    private static final long NODE = 8L << 20;              // 2048 pages: 32 max-order blocks
    private static final int HOT = AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE;
    private static final Duration LONG = Duration.ofSeconds(10);

    private static PageAllocator.Builder builder(String name) {
        return PageAllocator.builder().name(name).pageSize(4096).maxOrder(MAX_ORDER).backgroundThread(false)
                .jmx(false)
                .node(NodeSpec.fixed(1L << 20))            // node 0: Normal[0]
                .node(NodeSpec.hotRemovable(NODE));        // node 1: Movable[1]
    }

    /** Fills node 1 with one-page allocations, keeps one in {@code keepOneIn} at random places, frees the rest. */
    private static List<long[]> scatter(PageAllocator a, int node, int keepOneIn, long seed) {
        List<Long> all = new ArrayList<>();
        while (true) {
            long h = a.tryAllocate(4096, HOT, node);
            if (h == PageAllocator.NULL_HANDLE) {
                break;
            }
            all.add(h);
        }
        Collections.shuffle(all, new java.util.Random(seed));
        List<long[]> kept = new ArrayList<>();
        for (int i = 0; i < all.size(); i++) {
            long h = all.get(i);
            if (i % keepOneIn == 0) {
                long value = seed * 31 + i;
                for (long off = 0; off < 4096; off += 8) {
                    a.setLong(h, off, value ^ off);
                }
                kept.add(new long[] {h, value});
            } else {
                a.free(h);
            }
        }
        return kept;
    }

    private static void verify(PageAllocator a, List<long[]> kept) {
        for (long[] k : kept) {
            for (long off = 0; off < 4096; off += 8) {
                assertEquals(k[1] ^ off, a.getLong(k[0], off), "handle 0x" + Long.toHexString(k[0]) + " at " + off);
            }
        }
    }

    private static int zoneOfNode(PageAllocator a, int node) {
        return a.status().node(node).zones().getFirst().id();
    }

    @Test
    void compactingAScatteredZoneMakesMaxOrderAllocationsSucceed() {
        try (PageAllocator a = builder("compact-max").compaction(false).build()) {
            List<long[]> kept = scatter(a, 1, 4, 1);
            int zone = zoneOfNode(a, 1);
            ZoneStatus before = a.status().zone(zone);
            assertTrue(before.freePages() * 2 >= before.presentPages(), "at least half free: " + before);
            assertTrue(before.largestFreeOrder() < MAX_ORDER, "scattered: no max-order block is free: " + before);
            assertEquals(PageAllocator.NULL_HANDLE, a.tryAllocate(a.maxAllocationBytes(), HOT, 1),
                    "a max-order allocation fails before compaction");

            RelocationReport r = a.compact(zone, LONG);
            assertTrue(r.complete(), r.toString());
            assertTrue(r.moved() > 0, r.toString());
            assertEquals(r.moved() * 4096, r.movedBytes());
            assertEquals(0, r.remaining());
            assertTrue(r.operation().contains("Movable[" + zone + "]"), r.operation());
            a.checkInvariants();
            verify(a, kept);

            ZoneStatus after = a.status().zone(zone);
            assertEquals(before.activePages(), after.activePages(), "nothing is allocated or freed by compacting");
            assertEquals(MAX_ORDER, after.largestFreeOrder(), after.toString());
            // 512 pages live of 2048: the lower three quarters can become 24 max-order blocks; the packing at the
            // top is not perfect, so ask for most of them.
            assertTrue(after.freeBlocks().get(MAX_ORDER) >= 20, after.freeBlocks().toString());
            for (int i = 0; i < after.freeBlocks().get(MAX_ORDER); i++) {
                assertNotEquals(PageAllocator.NULL_HANDLE, a.tryAllocate(a.maxAllocationBytes(), HOT, 1),
                        "max-order allocation " + i);
            }
            verify(a, kept);
            a.checkInvariants();
        }
    }

    @Test
    void directCompactionTurnsAFailingHighOrderAllocationIntoASuccess() {
        try (PageAllocator a = builder("compact-direct").build()) {
            List<long[]> kept = scatter(a, 1, 4, 2);
            int zone = zoneOfNode(a, 1);
            assertTrue(a.status().zone(zone).largestFreeOrder() < MAX_ORDER);
            long h = a.tryAllocate(a.maxAllocationBytes(), HOT, 1);
            assertNotEquals(PageAllocator.NULL_HANDLE, h, "direct compaction made room: " + a.status().zone(zone));
            assertEquals(1, a.nodeOf(h));
            a.setLong(h, a.maxAllocationBytes() - 8, 7);
            assertEquals(7, a.getLong(h, a.maxAllocationBytes() - 8));
            verify(a, kept);
            a.checkInvariants();
        }
    }

    @Test
    void withoutEnoughFreePagesDirectCompactionMovesNothing() {
        try (PageAllocator a = builder("compact-nofree").build()) {
            List<long[]> kept = scatter(a, 1, 1, 3); // every page kept: the node is full
            long[] addresses = addresses(a, kept);
            assertEquals(PageAllocator.NULL_HANDLE, a.tryAllocate(8192, HOT, 1));
            assertEquals(List.of(toList(addresses)), List.of(toList(addresses(a, kept))), "nothing moved");
            verify(a, kept);
        }
    }

    private static long[] addresses(PageAllocator a, List<long[]> kept) {
        long[] out = new long[kept.size()];
        for (int i = 0; i < out.length; i++) {
            try (Pin p = a.pin(kept.get(i)[0])) {
                out[i] = p.segment().address();
            }
        }
        return out;
    }

    private static List<Long> toList(long[] xs) {
        List<Long> l = new ArrayList<>();
        for (long x : xs) {
            l.add(x);
        }
        return l;
    }

    @Test
    void pinnedAndNonMovableBlocksStayAndAreReported() {
        try (PageAllocator a = PageAllocator.builder().name("compact-stay").pageSize(4096).maxOrder(MAX_ORDER)
                .backgroundThread(false).jmx(false).compaction(false)
                .node(NodeSpec.fixed(NODE)).build()) {
            List<long[]> kept = scatter(a, 0, 4, 4);
            long unmovable = a.allocate(4096, AllocFlags.NONE, 0);
            a.setLong(unmovable, 0, 0x5EED);
            long pinned = kept.getFirst()[0];
            try (Pin pin = a.pin(pinned)) {
                long address = pin.segment().address();
                RelocationReport r = a.compact(0, LONG);
                assertFalse(r.complete(), r.toString());
                assertEquals(Integer.valueOf(1), r.failures().get(FailureReason.PINNED), r.toString());
                assertTrue(r.failures().containsKey(FailureReason.UNMOVABLE), r.toString());
                assertTrue(r.remaining() >= 2, r.toString());
                assertEquals(List.of(pinned), r.pinnedHandles());
                assertTrue(r.moved() > 0, r.toString());
                assertEquals(address, pin.segment().address(), "a pinned block never moves");
            }
            assertEquals(0x5EED, a.getLong(unmovable, 0));
            verify(a, kept);
            a.checkInvariants();
        }
    }

    @Test
    void readersAndWritersLoseNothingWhileZonesCompact() throws Exception {
        try (PageAllocator a = builder("compact-live").compaction(false).threadCacheMaxOrder(-1).build()) {
            int zone = zoneOfNode(a, 1);
            AtomicBoolean stop = new AtomicBoolean();
            ConcurrentLinkedQueue<Throwable> failures = new ConcurrentLinkedQueue<>();
            List<Thread> workers = new ArrayList<>();
            for (int w = 0; w < 2; w++) {
                long seed = 100 + w;
                Thread t = new Thread(() -> {
                    SplittableRandom r = new SplittableRandom(seed);
                    List<long[]> mine = new ArrayList<>(); // handle, value, size
                    try {
                        while (!stop.get()) {
                            if (mine.size() < 200 && r.nextInt(3) > 0) {
                                long size = 1 + r.nextInt(r.nextBoolean() ? 4096 : 40_000);
                                int flags = HOT | (r.nextInt(4) == 0 ? AllocFlags.ALIGNED : 0);
                                long h = a.tryAllocate(size, flags, 1);
                                if (h != PageAllocator.NULL_HANDLE) {
                                    long v = r.nextLong();
                                    for (long off = 0; off + 8 <= size; off += 8) {
                                        a.setLong(h, off, v + off);
                                    }
                                    mine.add(new long[] {h, v, size});
                                }
                            } else if (!mine.isEmpty()) {
                                int i = r.nextInt(mine.size());
                                long[] x = mine.get(i);
                                for (long off = 0; off + 8 <= x[2]; off += 8) {
                                    long got = a.getLong(x[0], off);
                                    if (got != x[1] + off) {
                                        throw new AssertionError("0x" + Long.toHexString(x[0]) + " at " + off
                                                + ": " + got + " != " + (x[1] + off));
                                    }
                                }
                                if (r.nextBoolean()) {
                                    a.free(x[0]);
                                    mine.set(i, mine.getLast());
                                    mine.removeLast();
                                } else {
                                    x[1] = r.nextLong();
                                    for (long off = 0; off + 8 <= x[2]; off += 8) {
                                        a.setLong(x[0], off, x[1] + off);
                                    }
                                }
                            }
                        }
                        for (long[] x : mine) {
                            a.free(x[0]);
                        }
                    } catch (Throwable e) {
                        failures.add(e);
                    }
                });
                workers.add(t);
                t.start();
            }
            long moved = 0;
            for (int i = 0; i < 60 && failures.isEmpty(); i++) {
                RelocationReport r = a.compact(zone, LONG);
                moved += r.moved();
                assertTrue(r.failures().isEmpty() || r.failures().containsKey(FailureReason.PINNED), r.toString());
                a.checkInvariants();
                Thread.sleep(5);
            }
            stop.set(true);
            for (Thread t : workers) {
                t.join(10_000);
            }
            assertTrue(failures.isEmpty(), () -> failures.peek().toString());
            assertTrue(moved > 0, "compaction moved something");
            a.checkInvariants();
            assertEquals(0, a.status().zone(zone).activePages(), "every block freed");
        }
    }

    @Test
    void backgroundCompactionMendsAFragmentedZone() throws Exception {
        try (PageAllocator a = builder("compact-bg").backgroundThread(true).purgeAfter(Duration.ofMillis(200))
                .build()) {
            List<long[]> kept = scatter(a, 1, 4, 5);
            int zone = zoneOfNode(a, 1);
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (a.status().zone(zone).largestFreeOrder() < MAX_ORDER && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertEquals(MAX_ORDER, a.status().zone(zone).largestFreeOrder(), a.status().zone(zone).toString());
            verify(a, kept);
            a.checkInvariants();
        }
    }

    @Test
    void buddyinfoCountsMatchTheZoneCounters() {
        try (PageAllocator a = builder("compact-buddyinfo").compaction(false).build()) {
            scatter(a, 1, 3, 6);
            long h = a.allocate(20_000, AllocFlags.NONE, 0); // 5 pages in Normal[0], its tail free
            String text = new HotplugCommands(a).execute("buddyinfo");
            String[] lines = text.split("\n");
            assertEquals(2, lines.length, text);
            Pattern line = Pattern.compile("Node (\\d+), zone +(Normal|Movable) ((?: *\\d+ ){" + (MAX_ORDER + 1)
                    + "})");
            for (int i = 0; i < lines.length; i++) {
                Matcher m = line.matcher(lines[i]);
                assertTrue(m.matches(), "'" + lines[i] + "'");
                int node = Integer.parseInt(m.group(1));
                assertEquals(i, node);
                ZoneStatus z = a.status().node(node).zones().getFirst();
                String[] counts = m.group(3).strip().split(" +");
                long pages = 0;
                for (int k = 0; k <= MAX_ORDER; k++) {
                    assertEquals(z.freeBlocks().get(k).intValue(), Integer.parseInt(counts[k]), lines[i]);
                    pages += Long.parseLong(counts[k]) << k;
                }
                assertEquals(z.freePages() - z.cachedPages(), pages, "buddy pages of " + z);
            }
            assertTrue(lines[0].startsWith("Node 0, zone   Normal "), lines[0]);
            // The 5-page run was cut from an order-3 block: its tail is page 5 (order 0) and pages 6-7 (order 1).
            ZoneStatus normal = a.status().zone(0);
            assertEquals(1, normal.freeBlocks().get(0).intValue(), normal.toString());
            assertEquals(1, normal.freeBlocks().get(1).intValue(), normal.toString());
            a.free(h);
            a.trimCaches(); // the 5-page run went to this thread's cache (it has a class of its own)
            assertEquals(List.of(0, 0, 0, 0, 0, 0, 4), a.status().zone(0).freeBlocks(), "merged back");
            a.checkInvariants();
        }
    }

    @Test
    void badZonesDisabledNodesAndClosedAllocatorsGetClearErrors() {
        PageAllocator a = builder("compact-bad").build();
        HotplugCommands c = new HotplugCommands(a);
        String before = a.status().toString();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> a.compact(-1, LONG));
        assertTrue(e.getMessage().contains("-1"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> a.compact(7, LONG));
        assertTrue(e.getMessage().contains("unknown zone 7"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> a.compact(1, Duration.ofSeconds(-1)));
        assertTrue(e.getMessage().contains("negative"), e.getMessage());
        assertThrows(NullPointerException.class, () -> a.compact(1, null));
        for (String bad : new String[] {"compact", "compact x", "compact 1 2 3", "compact 1 -4", "buddyinfo 1"}) {
            assertThrows(IllegalArgumentException.class, () -> c.execute(bad), bad);
        }
        a.disable(1);
        IllegalStateException s = assertThrows(IllegalStateException.class, () -> a.compact(1, LONG));
        assertTrue(s.getMessage().contains("zone 1") && s.getMessage().contains("node 1"), s.getMessage());
        a.enable(1);
        assertEquals(before, a.status().toString(), "refused calls changed nothing");
        assertTrue(c.execute("compact 1").startsWith("compact Movable[1] of node 1: complete, moved 0 blocks"),
                c.execute("compact 1"));
        a.close();
        s = assertThrows(IllegalStateException.class, () -> a.compact(1, LONG));
        assertTrue(s.getMessage().contains("closed"), s.getMessage());
    }

    @Test
    void mxBeanCompactsAndShowsBuddyInfo() throws Exception {
        MBeanServer server = ManagementFactory.getPlatformMBeanServer();
        try (PageAllocator a = builder("compact-jmx").jmx(true).compaction(false).build()) {
            List<long[]> kept = scatter(a, 1, 4, 7);
            ObjectName name = new ObjectName("io.hotmem:type=PageAllocator,name=compact-jmx");
            String info = (String) server.getAttribute(name, "BuddyInfo");
            assertEquals(a.status().renderBuddyInfo(), info);
            String report = (String) server.invoke(name, "compact", new Object[] {1, 5000L},
                    new String[] {"int", "long"});
            assertTrue(report.startsWith("compact Movable[1] of node 1: complete"), report);
            assertEquals(MAX_ORDER, a.status().zone(1).largestFreeOrder());
            verify(a, kept);
        }
    }

    @Test
    void aJfrEventNamesTheZoneTheTriggerAndTheOrders(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("compact.jfr");
        try (Recording rec = new Recording()) {
            rec.enable("io.hotmem.Compaction");
            rec.start();
            try (PageAllocator a = builder("compact-jfr").compaction(false).build()) {
                scatter(a, 1, 4, 8);
                a.compact(1, LONG);
            }
            rec.stop();
            rec.dump(file);
        }
        RecordedEvent e = RecordingFile.readAllEvents(file).stream()
                .filter(x -> x.getEventType().getName().equals("io.hotmem.Compaction")).findFirst().orElseThrow();
        assertEquals("compact-jfr", e.getString("allocator"));
        assertEquals(1, e.getInt("zone"));
        assertEquals("command", e.getString("trigger"));
        assertTrue(e.getBoolean("complete"));
        assertTrue(e.getLong("movedBlocks") > 0);
        assertEquals(e.getLong("movedBlocks") * 4096, e.getLong("movedBytes"));
        assertTrue(e.getInt("largestFreeOrderBefore") < MAX_ORDER);
        assertEquals(MAX_ORDER, e.getInt("largestFreeOrderAfter"));
        assertEquals("", e.getString("failures"));
    }
}

package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.HotplugCommands;
import io.hotmem.LeakDetection;
import io.hotmem.LeakReport;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import io.hotmem.Pin;
import io.hotmem.RelocationReport;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.management.ObjectName;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.lang.ref.WeakReference;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BooleanSupplier;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Leak detection from outside: leaked pins found after GC with the place that took them, stragglers that carry
 * that place, live allocations by site, PARANOID segments that throw after their pin is closed or their
 * allocation freed (and leave the block's next owner alone), the level from the system property, and what close,
 * the command, JMX and JFR say.
 */
class LeakDetectionTest {
    private static final int HOT = AllocFlags.HOTREMOVABLE;

    private static PageAllocator build(String name, LeakDetection level) {
        return PageAllocator.builder().name(name).maxOrder(6).leakDetection(level).jmx(false)
                .node(NodeSpec.fixed(8L << 20))
                .node(NodeSpec.hotRemovable(8L << 20))
                .build();
    }

    /** Pins {@code h} and drops the pin without closing it. */
    private static void leakAPinOf(PageAllocator a, long h) {
        Pin p = a.pin(h);
        p.setLong(0, 7);
    }

    private static void awaitTrue(BooleanSupplier condition, String what) throws InterruptedException {
        long end = System.nanoTime() + 20_000_000_000L;
        while (!condition.getAsBoolean()) {
            assertTrue(System.nanoTime() < end, "timed out waiting for " + what);
            System.gc();
            Thread.sleep(20);
        }
    }

    // ------------------------------------------------------------------------------------------------ pins

    @Test
    void aLeakedPinIsReportedAfterGcWithTheStackThatTookIt() throws Exception {
        try (PageAllocator a = build("leak-pin", LeakDetection.PARANOID)) {
            long h = a.allocate(8192, HOT, 1);
            leakAPinOf(a, h);
            awaitTrue(() -> !a.leaks().leakedPins().isEmpty(), "the leaked pin's report");
            LeakReport r = a.leaks();
            assertEquals(1, r.leakedPins().size(), r.render());
            LeakReport.Site s = r.leakedPins().get(0);
            assertEquals(1, s.count());
            assertEquals(8192, s.bytes());
            assertTrue(s.stack().startsWith("at io.hotmem.tests.LeakDetectionTest.leakAPinOf("), s.stack());
            assertTrue(r.render().contains("LeakDetectionTest.leakAPinOf("), r.render());
            // Its block stays pinned: not freeable, and a drain lists it with the same place.
            assertThrows(IllegalStateException.class, () -> a.free(h));
            a.disable(1);
            RelocationReport d = a.drain(1, Duration.ofMillis(50));
            assertEquals(1, d.stragglers().size(), d.toString());
            assertEquals(h, d.stragglers().get(0).handle());
            assertTrue(d.stragglers().get(0).site().contains("LeakDetectionTest.leakAPinOf("), d.toString());
            // Reported once only.
            System.gc();
            Thread.sleep(50);
            assertEquals(1, a.leaks().leakedPins().get(0).count());
        }
    }

    @Test
    void aClosedPinIsNeverReported() throws Exception {
        try (PageAllocator a = build("leak-closed", LeakDetection.PARANOID)) {
            long h = a.allocate(4096, HOT, 1);
            for (int i = 0; i < 1000; i++) {
                try (Pin p = a.pin(h)) {
                    p.setLong(0, i);
                }
            }
            for (int i = 0; i < 5; i++) {
                System.gc();
                Thread.sleep(20);
            }
            assertTrue(a.leaks().leakedPins().isEmpty(), a.leaks().render());
            a.free(h); // no pin is left
        }
    }

    @Test
    void aStragglerCarriesTheSiteOfItsOpenPin() {
        try (PageAllocator a = build("leak-straggler", LeakDetection.PARANOID)) {
            long h = a.allocate(4096, HOT, 1);
            long other = a.allocate(4096, HOT, 1);
            a.disable(1);
            try (Pin held = a.pin(h)) {
                RelocationReport r = a.drain(1, Duration.ofMillis(50));
                assertEquals(1, r.stragglers().size(), r.toString());
                RelocationReport.Straggler s = r.stragglers().get(0);
                assertNotNull(s.site(), r.toString());
                assertTrue(s.site().startsWith("at io.hotmem.tests.LeakDetectionTest.aStragglerCarriesTheSiteOf"),
                        s.site());
                assertTrue(s.toString().contains("taken at io.hotmem.tests.LeakDetectionTest."), s.toString());
                held.setLong(0, 1);
            }
            String out = new HotplugCommands(a).execute("drain 1 1");
            assertTrue(out.contains("complete"), out);
            a.free(h);
            a.free(other);
        }
    }

    @Test
    void aStragglerOfAnUntrackedPinHasNoSite() {
        try (PageAllocator a = build("leak-untracked", LeakDetection.DISABLED)) {
            long h = a.allocate(4096, HOT, 1);
            a.disable(1);
            try (Pin ignored = a.pin(h)) {
                RelocationReport r = a.drain(1, Duration.ofMillis(20));
                assertEquals(1, r.stragglers().size());
                assertNull(r.stragglers().get(0).site());
            }
            a.free(h);
        }
    }

    // ------------------------------------------------------------------------------------------------ allocations

    private static List<Long> allocateThree(PageAllocator a) {
        List<Long> hs = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            hs.add(a.allocate(4096, AllocFlags.NONE));
        }
        return hs;
    }

    private static long allocateOneLarge(PageAllocator a) {
        return a.allocate(64 * 1024, HOT);
    }

    @Test
    void liveAllocationsAreListedBySiteAndGoWhenFreed() throws Exception {
        try (PageAllocator a = build("leak-sites", LeakDetection.PARANOID)) {
            List<Long> three = allocateThree(a);
            long large = allocateOneLarge(a);
            Thread.sleep(5);
            LeakReport r = a.leaks();
            assertEquals(2, r.liveAllocations().size(), r.render());
            LeakReport.Site first = r.liveAllocations().get(0); // largest bytes first
            assertTrue(first.stack().startsWith("at io.hotmem.tests.LeakDetectionTest.allocateOneLarge("),
                    first.stack());
            assertEquals(1, first.count());
            assertEquals(64 * 1024, first.bytes());
            LeakReport.Site second = r.liveAllocations().get(1);
            assertTrue(second.stack().startsWith("at io.hotmem.tests.LeakDetectionTest.allocateThree("),
                    second.stack());
            assertEquals(3, second.count());
            assertEquals(3 * 4096, second.bytes());
            assertTrue(second.oldest().toMillis() >= 5, second.toString());
            String text = new HotplugCommands(a).execute("leaks");
            assertTrue(text.contains("3 allocations, 12 KiB"), text);
            assertTrue(text.contains("at io.hotmem.tests.LeakDetectionTest.allocateThree("), text);

            for (long h : three) {
                a.free(h);
            }
            a.free(large);
            assertTrue(a.leaks().liveAllocations().isEmpty(), a.leaks().render());
        }
    }

    @Test
    void sampledTracksAboutOneAllocationInTheInterval() {
        int n = 16 * LeakDetection.SAMPLING_INTERVAL;
        try (PageAllocator a = PageAllocator.builder().name("leak-sampled").maxOrder(4).jmx(false)
                .leakDetection(LeakDetection.SAMPLED).node(NodeSpec.fixed(512L << 20)).build()) {
            long[] hs = new long[n];
            for (int i = 0; i < n; i++) {
                hs[i] = allocateOneSmall(a);
            }
            LeakReport r = a.leaks();
            assertEquals(LeakDetection.SAMPLED, r.level());
            assertEquals(1, r.liveAllocations().size(), r.render());
            long tracked = r.liveAllocations().get(0).count();
            // Countdowns uniform in 1 .. 2 * interval: 16 expected; far outside 4 .. 40 only by a defect.
            assertTrue(tracked >= 4 && tracked <= 40, "tracked " + tracked + " of " + n);
            for (long h : hs) {
                a.free(h);
            }
            assertTrue(a.leaks().liveAllocations().isEmpty());
        }
    }

    private static long allocateOneSmall(PageAllocator a) {
        return a.allocate(4096, AllocFlags.NONE);
    }

    @Test
    void disabledTracksNothing() throws Exception {
        try (PageAllocator a = build("leak-disabled", LeakDetection.DISABLED)) {
            long h = a.allocate(4096, HOT, 1);
            leakAPinOf(a, h);
            for (int i = 0; i < 5; i++) {
                System.gc();
                Thread.sleep(20);
            }
            LeakReport r = a.leaks();
            assertEquals(LeakDetection.DISABLED, r.level());
            assertTrue(r.liveAllocations().isEmpty());
            assertTrue(r.leakedPins().isEmpty());
            assertTrue(r.render().startsWith("leak detection DISABLED"), r.render());
        }
    }

    // ------------------------------------------------------------------------------------------------ PARANOID

    @Test
    void paranoidPinSegmentThrowsAfterCloseAndLeavesTheNextOwnerAlone() {
        try (PageAllocator a = build("leak-uaf-pin", LeakDetection.PARANOID)) {
            long h = a.allocate(4096, HOT, 1);
            MemorySegment stale;
            try (Pin p = a.pin(h)) {
                stale = p.segment();
                MemorySegment again = p.segment();
                stale.set(JAVA_LONG, 0, 11);
                assertEquals(11, again.get(JAVA_LONG, 0));
            }
            assertThrows(IllegalStateException.class, () -> stale.get(JAVA_LONG, 0));
            a.free(h);
            long next = a.allocate(4096, HOT, 1); // the thread cache hands the same block back
            a.setLong(next, 0, 22);
            assertThrows(IllegalStateException.class, () -> stale.set(JAVA_LONG, 0, 99));
            assertThrows(IllegalStateException.class, () -> stale.fill((byte) 1));
            assertEquals(22, a.getLong(next, 0));
            assertEquals(0, a.getLong(next, 8));
            a.free(next);
        }
    }

    @Test
    void paranoidSegmentThrowsAfterFreeAndLeavesTheNextOwnerAlone() {
        try (PageAllocator a = build("leak-uaf-free", LeakDetection.PARANOID)) {
            long h = a.allocate(4096, AllocFlags.NONE);
            long kept = a.allocate(4096, AllocFlags.NONE);
            MemorySegment stale = a.segment(h);
            MemorySegment live = a.segment(kept);
            stale.set(JAVA_LONG, 0, 5);
            assertEquals(5, a.segment(h).get(JAVA_LONG, 0));
            a.free(h);
            long next = a.allocate(4096, AllocFlags.NONE);
            a.setLong(next, 0, 33);
            assertThrows(IllegalStateException.class, () -> stale.set(JAVA_LONG, 0, 99));
            assertThrows(IllegalStateException.class, () -> stale.get(JAVA_LONG, 0));
            assertEquals(33, a.getLong(next, 0));
            live.set(JAVA_LONG, 0, 44); // the other allocation's segment stays valid
            assertEquals(44, a.getLong(kept, 0));
            assertThrows(io.hotmem.StaleHandleException.class, () -> a.segment(h));
            a.free(next);
            a.free(kept);
        }
    }

    @Test
    void withoutParanoidSegmentsAreNotScopedByTheirPin() {
        try (PageAllocator a = build("leak-unscoped", LeakDetection.SAMPLED)) {
            long h = a.allocate(4096, HOT, 1);
            MemorySegment s;
            try (Pin p = a.pin(h)) {
                s = p.segment();
            }
            assertEquals(0, s.get(JAVA_LONG, 0)); // documented: nothing stops it (the node is still plugged)
            a.free(h);
        }
    }

    @Test
    void closeClosesParanoidSegmentsBeforeTheMemoryGoes() {
        PageAllocator a = build("leak-close-scopes", LeakDetection.PARANOID);
        long h = a.allocate(4096, HOT, 1);
        long fixed = a.allocate(4096, AllocFlags.NONE);
        Pin p = a.pin(h);
        MemorySegment pinned = p.segment();
        MemorySegment seg = a.segment(fixed);
        a.close();
        assertThrows(IllegalStateException.class, () -> pinned.get(JAVA_LONG, 0));
        assertThrows(IllegalStateException.class, () -> seg.set(JAVA_LONG, 0, 1));
        p.close(); // after close: does nothing harmful
    }

    // ------------------------------------------------------------------------------------------------ level

    @Test
    void theLevelComesFromTheSystemPropertyUnlessTheBuilderSetsOne() {
        String saved = System.getProperty(LeakDetection.PROPERTY);
        try {
            System.setProperty(LeakDetection.PROPERTY, " Paranoid ");
            try (PageAllocator a = PageAllocator.builder().name("leak-prop").jmx(false)
                    .node(NodeSpec.fixed(1L << 20)).build()) {
                assertEquals(LeakDetection.PARANOID, a.leaks().level());
            }
            try (PageAllocator a = PageAllocator.builder().name("leak-prop-wins").jmx(false)
                    .leakDetection(LeakDetection.DISABLED).node(NodeSpec.fixed(1L << 20)).build()) {
                assertEquals(LeakDetection.DISABLED, a.leaks().level());
            }
            System.setProperty(LeakDetection.PROPERTY, "sometimes");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PageAllocator.builder()
                    .name("leak-prop-bad").jmx(false).node(NodeSpec.fixed(1L << 20)).build());
            assertTrue(e.getMessage().contains("'sometimes'") && e.getMessage().contains(LeakDetection.PROPERTY),
                    e.getMessage());
            System.clearProperty(LeakDetection.PROPERTY);
            try (PageAllocator a = PageAllocator.builder().name("leak-default").jmx(false)
                    .node(NodeSpec.fixed(1L << 20)).build()) {
                assertEquals(LeakDetection.SAMPLED, a.leaks().level());
            }
        } finally {
            if (saved == null) {
                System.clearProperty(LeakDetection.PROPERTY);
            } else {
                System.setProperty(LeakDetection.PROPERTY, saved);
            }
        }
        assertThrows(NullPointerException.class, () -> PageAllocator.builder().leakDetection(null));
        assertEquals(LeakDetection.SAMPLED, LeakDetection.parse("sampled"));
        assertThrows(IllegalArgumentException.class, () -> LeakDetection.parse(null));
    }

    // ------------------------------------------------------------------------------------------------ outside

    @Test
    void closeLogsTheAllocationsStillLiveWithTheirSites() {
        Logger log = Logger.getLogger("io.hotmem");
        List<LogRecord> records = new CopyOnWriteArrayList<>();
        Handler h = new Handler() {
            @Override
            public void publish(LogRecord r) {
                records.add(r);
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        };
        log.addHandler(h);
        try {
            PageAllocator a = build("leak-close-log", LeakDetection.PARANOID);
            allocateThree(a);
            a.close();
            String text = records.stream().map(LogRecord::getMessage)
                    .filter(m -> m.startsWith("leak-close-log: closed with")).findFirst().orElse("none");
            assertTrue(text.contains("closed with 3 allocations (12288 bytes) not freed"), text);
            assertTrue(text.contains("LeakDetectionTest.allocateThree("), text);
        } finally {
            log.removeHandler(h);
        }
    }

    @Test
    void jmxAndJfrReportALeakedPin(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("leak.jfr");
        try (Recording rec = new Recording()) {
            rec.enable("io.hotmem.Leak");
            rec.start();
            try (PageAllocator a = PageAllocator.builder().name("leak-jmx").maxOrder(4).jmx(true)
                    .leakDetection(LeakDetection.PARANOID).node(NodeSpec.hotRemovable(1L << 20)).build()) {
                long h = a.allocate(4096, HOT);
                leakAPinOf(a, h);
                awaitTrue(() -> !a.leaks().leakedPins().isEmpty(), "the leaked pin's report");
                ObjectName on = new ObjectName("io.hotmem:type=PageAllocator,name=leak-jmx");
                var server = ManagementFactory.getPlatformMBeanServer();
                assertEquals(1L, server.getAttribute(on, "LeakedPins"));
                String leaks = (String) server.getAttribute(on, "Leaks");
                assertTrue(leaks.contains("leaked pins by site") && leaks.contains("leakAPinOf("), leaks);
            }
            rec.stop();
            rec.dump(file);
        }
        List<RecordedEvent> events = RecordingFile.readAllEvents(file).stream()
                .filter(e -> e.getEventType().getName().equals("io.hotmem.Leak")).toList();
        RecordedEvent pin = events.stream().filter(e -> e.getString("kind").equals("leaked pin")).findFirst()
                .orElseThrow(() -> new AssertionError(events.toString()));
        assertEquals("leak-jmx", pin.getString("allocator"));
        assertEquals(4096, pin.getLong("bytes"));
        assertTrue(pin.getString("site").contains("leakAPinOf("), pin.getString("site"));
    }

    @Test
    void aClosedAllocatorWithLeakedAndOpenPinsIsNotKeptAlive() throws Exception {
        WeakReference<PageAllocator> ref = closedWithPins();
        awaitTrue(() -> ref.get() == null, "the closed allocator to be collected");
    }

    private static WeakReference<PageAllocator> closedWithPins() {
        PageAllocator a = build("leak-reachability", LeakDetection.PARANOID);
        long h = a.allocate(4096, HOT, 1);
        leakAPinOf(a, h);
        a.pin(a.allocate(4096, HOT, 1)); // open, dropped
        allocateThree(a);
        a.close();
        return new WeakReference<>(a);
    }

    @Test
    void leaksAfterCloseThrows() {
        PageAllocator a = build("leak-after-close", LeakDetection.SAMPLED);
        a.close();
        IllegalStateException e = assertThrows(IllegalStateException.class, a::leaks);
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
    }
}

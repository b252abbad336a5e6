package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.AllocationFailedException;
import io.hotmem.LeakDetection;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import io.hotmem.Pin;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;

import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Second review of the review fixes: PinImpl's allocator-open check, allocateMissed's sampling, free's re-read of
 * the location after its CAS, HandleTable.retire at close; and of the fast paths before them.
 */
class FixesSecondReviewDefectTest {

    private interface Blocker {
        BlockedInIo start(PageAllocator a, long h) throws Exception;
    }

    /**
     * Every method of a Pin that touches memory (all typed accessors, both copies, segment()) throws
     * IllegalStateException once the allocator is closed while its range (or a node) stays mapped, for a pin and a
     * long-term pin, at every leak detection level, with either kind of blocked I/O; the pin's close stays quiet.
     */
    @Test
    void everyPinMethodThrowsAfterCloseWhileMemoryStaysMapped() throws Exception {
        Blocker[] blockers = {BlockedInIo::scopedReader, BlockedInIo::pinnedSegment};
        for (LeakDetection level : LeakDetection.values()) {
            for (int b = 0; b < blockers.length; b++) {
                PageAllocator a = PageAllocator.builder().name("rev2-pin-" + level + "-" + b)
                        .backgroundThread(false).jmx(false).leakDetection(level)
                        .node(NodeSpec.fixed(8L << 20)).node(NodeSpec.hotRemovable(16L << 20)).build();
                long blocked = a.allocate(1 << 20, AllocFlags.NONE);
                long h = a.allocate(4096, AllocFlags.NONE);
                long m = a.allocate(3 * 4096, AllocFlags.HOTREMOVABLE);
                Pin p = a.pin(h);
                Pin lt = a.pinLongTerm(m);
                try (Arena arena = Arena.ofConfined(); BlockedInIo io = blockers[b].start(a, blocked)) {
                    MemorySegment buf = arena.allocate(64);
                    a.close();
                    for (Pin pin : new Pin[] {p, lt}) {
                        String what = level + "/" + b + "/" + (pin == p ? "pin" : "pinLongTerm") + ": ";
                        List<Executable> calls = List.of(
                                () -> pin.getLong(0), () -> pin.setLong(0, 1), () -> pin.getInt(0),
                                () -> pin.setInt(0, 1), () -> pin.getByte(0), () -> pin.setByte(0, (byte) 1),
                                () -> pin.copyFrom(buf, 0, 0, 64), () -> pin.copyTo(0, buf, 0, 64),
                                pin::segment, () -> pin.segment().get(JAVA_LONG, 0));
                        for (int i = 0; i < calls.size(); i++) {
                            IllegalStateException e = assertThrows(IllegalStateException.class, calls.get(i),
                                    what + "call " + i + " after close");
                            assertTrue(e.getMessage().contains("closed"), what + "call " + i + ": " + e);
                        }
                    }
                    p.close();
                    lt.close();
                }
            }
        }
    }

    /**
     * A user segment taken before close (a pin's, and segment(h) of a non-movable allocation) while another
     * segment of the same node is inside blocking I/O at close: the node's user scope cannot close then (a shared
     * arena does not close while an operation holds it), so the segments keep working while the I/O lasts; the
     * memory stays mapped, so nothing faults. Before the late release nothing retried once the allocator was
     * closed, and they kept working for good, on memory never given back. Now, once the I/O has ended, the node's
     * scope closes within a few retries and every segment of it throws.
     */
    @Test
    void userSegmentsTakenBeforeCloseStopWorkingOnceTheIoEnds() throws Exception {
        List<String> stillWorking = new ArrayList<>();
        for (LeakDetection level : new LeakDetection[] {LeakDetection.DISABLED, LeakDetection.SAMPLED}) {
            PageAllocator a = PageAllocator.builder().name("rev2-seg-" + level).backgroundThread(false).jmx(false)
                    .leakDetection(level).node(NodeSpec.fixed(8L << 20)).build();
            long blocked = a.allocate(1 << 20, AllocFlags.NONE);
            long h = a.allocate(4096, AllocFlags.NONE);
            long h2 = a.allocate(4096, AllocFlags.NONE);
            Pin p = a.pin(h);
            MemorySegment pinSeg = p.segment();
            MemorySegment seg = a.segment(h2);
            try (BlockedInIo io = BlockedInIo.pinnedSegment(a, blocked)) {
                a.close();
                assertThrows(IllegalStateException.class, () -> p.getLong(0), level + ": Pin.getLong after close");
            }
            // The blocked I/O is over: nothing keeps the node mapped any more.
            long deadline = System.nanoTime() + 5_000_000_000L;
            while ((works(() -> seg.set(JAVA_LONG, 0, 9L)) || works(() -> pinSeg.get(JAVA_LONG, 0)))
                    && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            if (works(() -> seg.set(JAVA_LONG, 0, 9L)) || works(() -> pinSeg.get(JAVA_LONG, 0))) {
                stillWorking.add(level + ": segment(h) or the pin's segment, taken before close, used 5 s after "
                        + "close and after the I/O ended");
            }
            p.close();
        }
        assertTrue(stillWorking.isEmpty(), "segments of a closed allocator still work: " + stillWorking);
    }

    /**
     * The range close left mapped for a scoped reader in blocking I/O is unmapped once the reader's I/O ends: no
     * line of /proc/self/maps covers the allocator's memory any more (before the late release it stayed mapped for
     * the life of the JVM).
     */
    @Test
    @org.junit.jupiter.api.condition.EnabledOnOs(org.junit.jupiter.api.condition.OS.LINUX)
    void theRangeKeptForAScopedReaderIsUnmappedOnceItsIoEnds() throws Exception {
        PageAllocator a = PageAllocator.builder().name("rev2-unmap").backgroundThread(false).jmx(false)
                .leakDetection(LeakDetection.DISABLED).node(NodeSpec.fixed(8L << 20)).build();
        long blocked = a.allocate(1 << 20, AllocFlags.NONE);
        long address;
        try (Pin p = a.pin(blocked)) {
            address = p.segment().address();
        }
        assertTrue(ProcMaps.mapped(address), "the allocator's memory is mapped while it is open");
        try (BlockedInIo io = BlockedInIo.scopedReader(a, blocked)) {
            a.close();
            Thread.sleep(3 * 100);
            assertTrue(ProcMaps.mapped(address), "kept mapped while the scoped reader's I/O lasts");
        }
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (ProcMaps.mapped(address) && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertTrue(!ProcMaps.mapped(address), "the range is unmapped once the I/O ended");
    }

    /**
     * At PARANOID a pin's segment has a scope of the leak detector's own: when that segment is inside blocking I/O at
     * close, the range stays mapped while the I/O lasts (the segment still works: nothing is unmapped under it), and
     * once it ends the late release closes that scope too, so the segment throws and the range is unmapped. Before,
     * the leak detector's scope got no second chance: the range stayed mapped and the segment kept working for the
     * life of the JVM.
     */
    @Test
    @org.junit.jupiter.api.condition.EnabledOnOs(org.junit.jupiter.api.condition.OS.LINUX)
    void atParanoidAPinsSegmentInIoAtCloseIsReleasedOnceTheIoEnds() throws Exception {
        PageAllocator a = PageAllocator.builder().name("rev2-paranoid-unmap").backgroundThread(false).jmx(false)
                .leakDetection(LeakDetection.PARANOID).node(NodeSpec.fixed(8L << 20)).build();
        long blocked = a.allocate(1 << 20, AllocFlags.NONE);
        Pin p = a.pin(blocked);
        MemorySegment seg = p.segment();
        seg.set(JAVA_LONG, 0, 5L);
        long address = seg.address();
        try (BlockedInIo io = BlockedInIo.segmentOf(p)) {
            a.close();
            Thread.sleep(3 * 100);
            assertTrue(ProcMaps.mapped(address), "kept mapped while the pin's segment is inside I/O");
            assertEquals(5L, seg.get(JAVA_LONG, 0), "the segment in I/O still reads its memory");
        }
        long deadline = System.nanoTime() + 5_000_000_000L;
        while ((ProcMaps.mapped(address) || works(() -> seg.get(JAVA_LONG, 0))) && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertFalse(works(() -> seg.get(JAVA_LONG, 0)), "the PARANOID pin's segment works after the I/O ended");
        assertFalse(ProcMaps.mapped(address), "the range is unmapped once the I/O ended");
        p.close(); // the pin of a closed allocator: closing it changes nothing and does not throw
    }

    static boolean works(Executable e) {
        try {
            e.execute();
            return true;
        } catch (IllegalStateException closed) {
            return false;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /**
     * Calls of every kind racing close (relocations, long-term pins, reports, scoped reads, copies, user segments,
     * pins' segments, cache trims): each completes or throws IllegalStateException / AllocationFailedException
     * with no NullPointerException, IndexOutOfBoundsException or ClassCastException anywhere in its causes; and
     * a call started after close() returned says the allocator is closed.
     */
    @Test
    void callsOfEveryKindRacingCloseFailOnlyAsClosed() throws Exception {
        ConcurrentLinkedQueue<Throwable> found = new ConcurrentLinkedQueue<>();
        int rounds = 0;
        for (; rounds < 30; rounds++) {
            LeakDetection level = LeakDetection.values()[rounds % LeakDetection.values().length];
            PageAllocator a = PageAllocator.builder().name("rev2-race-" + rounds).backgroundThread(false)
                    .jmx(false).leakDetection(level).maxOrder(8)
                    .node(NodeSpec.fixed(32L << 20)).node(NodeSpec.hotRemovable(32L << 20)).build();
            int movableZone = a.zoneOf(a.allocate(4096, AllocFlags.HOTREMOVABLE, 1));
            int workers = 5;
            CountDownLatch going = new CountDownLatch(workers);
            AtomicBoolean closed = new AtomicBoolean();
            List<Thread> ts = new ArrayList<>();
            for (int w = 0; w < workers; w++) {
                int id = w;
                SplittableRandom rnd = new SplittableRandom(rounds * 131L + w);
                Thread t = new Thread(() -> {
                    List<Long> live = new ArrayList<>();
                    MemorySegment buf = Arena.ofAuto().allocate(4096);
                    int after = 0;
                    going.countDown();
                    while (after < 100) {
                        boolean startedClosed = closed.get();
                        if (startedClosed) {
                            after++;
                        }
                        int op = rnd.nextInt(16);
                        try {
                            if (op <= 3 || live.isEmpty()) {
                                long size = 8 + rnd.nextInt(5 * 4096);
                                live.add(a.allocate(size, rnd.nextBoolean() ? AllocFlags.HOTREMOVABLE : 0));
                            } else {
                                long h = live.get(rnd.nextInt(live.size()));
                                switch (op) {
                                    case 4 -> a.free(live.remove(live.size() - 1));
                                    case 5 -> {
                                        if (id == 0) {
                                            a.compact(movableZone, Duration.ofMillis(20));
                                        } else if (id == 1) {
                                            a.remap(movableZone, Duration.ofMillis(20));
                                        } else {
                                            a.trimCaches();
                                        }
                                    }
                                    case 6 -> {
                                        try (Pin p = a.pinLongTerm(h)) {
                                            p.getLong(0);
                                            p.copyTo(0, buf, 0, 8);
                                        }
                                    }
                                    case 7 -> {
                                        try (Pin p = a.pin(h)) {
                                            p.segment().get(JAVA_LONG, 0);
                                            p.setInt(0, 3);
                                            p.copyFrom(buf, 0, 0, 8);
                                        }
                                    }
                                    case 8 -> a.readAsLong(h, s -> s.get(JAVA_LONG, 0));
                                    case 9 -> a.read(h, Function.identity());
                                    case 10 -> a.copyTo(h, 0, buf, 0, 8);
                                    case 11 -> {
                                        if (!a.isMovable(h)) {
                                            a.segment(h).get(JAVA_LONG, 0);
                                        }
                                    }
                                    case 12 -> a.leaks();
                                    case 13 -> a.status();
                                    case 14 -> a.nodeOf(h);
                                    default -> a.setLong(h, 0, 5);
                                }
                            }
                        } catch (IllegalStateException | AllocationFailedException e) {
                            boolean bad = startedClosed && !String.valueOf(e.getMessage()).contains("is closed");
                            if (bad || CloseRacing.hasBadCause(e)) {
                                found.add(new AssertionError(level + " op " + op + (startedClosed
                                        ? " after close" : " racing close") + ": " + e, e));
                            }
                        } catch (Throwable e) {
                            found.add(new AssertionError(level + " op " + op + ": " + e, e));
                        }
                    }
                }, "rev2-racer-" + w);
                t.start();
                ts.add(t);
            }
            CloseRacing.closeWhileRunning(a, going, 2 + rounds % 7, closed, ts, 30_000);
        }
        CloseRacing.assertNoneFound(found, rounds);
    }

    /**
     * Frees through the thread caches racing drains of the hot-removable nodes (disable, drain, enable: the zones'
     * epochs change and the caches are reclaimed under the frees) and long-term pins: every allocation keeps its
     * contents until its free, and the accounting holds afterwards (a free that gave back the old copy would show
     * as a doubly used block: another allocation's contents overwritten, or an invariant broken).
     */
    @Test
    void freesRacingDrainsAndLongTermPinsNeverReturnTheOldCopy() throws Exception {
        PageAllocator a = PageAllocator.builder().name("rev2-free-vs-drain").backgroundThread(false).jmx(false)
                .leakDetection(LeakDetection.SAMPLED).maxOrder(6).node(NodeSpec.fixed(32L << 20))
                .node(NodeSpec.hotRemovable(16L << 20)).node(NodeSpec.hotRemovable(16L << 20)).build();
        try (a) {
            AtomicBoolean stop = new AtomicBoolean();
            ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();
            List<Thread> ts = new ArrayList<>();
            for (int w = 0; w < 3; w++) {
                int id = w;
                ts.add(new Thread(new MovableChurn(a, 4321 + id, ((long) (id + 1) << 40) + 1, 150, 5 * 4096, AllocFlags.HOTREMOVABLE | AllocFlags.ZERO, -1, 6, stop, errors),
                        "rev2-free-vs-drain-" + w));
            }
            ts.add(new Thread(() -> {
                try {
                    for (int i = 0; !stop.get(); i++) {
                        int node = 1 + (i & 1);
                        a.disable(node);
                        try {
                            a.drain(node, Duration.ofMillis(100));
                        } catch (IllegalStateException | AllocationFailedException ok) {
                            // timed out / no room
                        } finally {
                            a.enable(node);
                        }
                    }
                } catch (Throwable t) {
                    errors.add(t);
                }
            }, "rev2-drainer"));
            ts.forEach(Thread::start);
            Thread.sleep(4_000);
            stop.set(true);
            for (Thread t : ts) {
                t.join(30_000);
            }
            if (!errors.isEmpty()) {
                throw new AssertionError(errors.size() + " errors; first " + errors.peek(), errors.peek());
            }
            a.trimCaches();
            a.checkInvariants();
        }
    }
}

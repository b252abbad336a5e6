package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.MemoryBacking;
import io.hotmem.NodeSpec;
import io.hotmem.NodeState;
import io.hotmem.PageAllocator;
import io.hotmem.Pin;
import io.hotmem.RelocationReport;
import io.hotmem.ZoneStatus;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledOnOs;
import org.junit.jupiter.api.condition.OS;
import org.junit.jupiter.api.parallel.Isolated;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The one reserved address range of commit c61adee, from outside: a node unplugged under late optimistic readers
 * (they read zeros of its old copy and must retry, never fault, never return them), user segments whose node was
 * unplugged (they throw), {@link PageAllocator.Builder#addressSpace} and what {@code addNode} may use of it, and
 * memory given back to the OS by unplug (Linux RSS) with a replugged node serving ZERO allocations that read zero.
 * Fixed seeds throughout.
 *
 * <p>{@link Isolated}: one test reads the process RSS.
 */
@Isolated
class AddressRangeTest {
    private static final long KIB = 1L << 10;
    private static final long MIB = 1L << 20;
    private static final long GIB = 1L << 30;
    private static final Duration DEADLINE = Duration.ofSeconds(20);
    private static final long RUN_MILLIS = 2_500;

    private static PageAllocator.Builder builder(String name) {
        return PageAllocator.builder().name(name).pageSize(4096).maxOrder(6).backgroundThread(false).jmx(false);
    }

    private static boolean linux() {
        return System.getProperty("os.name", "").toLowerCase(java.util.Locale.ROOT).startsWith("linux");
    }

    /** The long at index {@code k} of allocation {@code i}: never zero, so a zeroed copy cannot pass for it. */
    static long pattern(int i, long k) {
        long z = (((long) i << 32) | k) + 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return (z ^ (z >>> 31)) | 1L;
    }

    private static String stackTrace(Throwable t) {
        var sw = new java.io.StringWriter();
        t.printStackTrace(new java.io.PrintWriter(sw));
        return sw.toString();
    }

    // ============================================================================================ (a) late readers

    /**
     * Reader threads loop over movable allocations filled with {@link #pattern} (single longs with getLong, a whole
     * allocation checked in one readAsLong, samples through read) while a control thread takes the hot-removable
     * nodes 1 and 2 out and back in turn: offline + plug + enable, disable + drain + unplug + plug + enable, and
     * remap. Each unplug gives the node's pages back while readers may still be reading the old copies there (they
     * read zeros, or the bytes of what landed there after the replug): no read may fault, and every value a read
     * returns must be the pattern.
     */
    @Test
    void lateOptimisticReadersOfAnUnpluggedNodeNeverFaultNorReturnStaleOrZeroValues() throws Exception {
        try (PageAllocator a = builder("late-readers")
                .node(NodeSpec.fixed(8 * MIB))          // node 0: Normal[0], fallback only
                .node(NodeSpec.hotRemovable(8 * MIB))   // node 1: Movable[1]
                .node(NodeSpec.hotRemovable(8 * MIB))   // node 2: Movable[2]
                .build()) {
            int count = 48;
            long[] handles = new long[count];
            long[] sizes = new long[count];
            SplittableRandom setup = new SplittableRandom(11);
            try (Arena arena = Arena.ofConfined()) {
                for (int i = 0; i < count; i++) {
                    sizes[i] = 8 * (1 + setup.nextInt(8192)); // 8 B .. 64 KiB, whole longs
                    handles[i] = a.allocate(sizes[i], AllocFlags.HOTREMOVABLE, 1 + (i & 1));
                    MemorySegment src = arena.allocate(sizes[i], 8);
                    for (long k = 0; k < sizes[i] / 8; k++) {
                        src.setAtIndex(JAVA_LONG, k, pattern(i, k));
                    }
                    a.copyFrom(src, 0, handles[i], 0, sizes[i]);
                }
            }

            AtomicBoolean stop = new AtomicBoolean();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            CountDownLatch failed = new CountDownLatch(1);
            CountDownLatch readersRunning = new CountDownLatch(3);
            AtomicLong reads = new AtomicLong();
            AtomicLong rejectedViews = new AtomicLong();
            AtomicLong rejectedZeroViews = new AtomicLong();
            AtomicLong unplugs = new AtomicLong();
            AtomicLong moved = new AtomicLong();
            List<Thread> threads = new ArrayList<>();
            for (int rd = 0; rd < 3; rd++) {
                final int id = rd;
                threads.add(Thread.ofPlatform().name("reader-" + rd).start(() -> {
                    SplittableRandom r = new SplittableRandom(1000 + id);
                    long n = 0;
                    long[] badViews = new long[2]; // views that were not the pattern: other bytes, zeros
                    try {
                        while (!stop.get()) {
                            int i = r.nextInt(count);
                            long h = handles[i];
                            long longs = sizes[i] / 8;
                            switch ((int) (n % 3)) {
                                case 0 -> {
                                    long k = r.nextLong(longs);
                                    long v = a.getLong(h, 8 * k);
                                    if (v != pattern(i, k)) {
                                        throw new AssertionError("getLong of allocation " + i + " long " + k
                                                + " returned 0x" + Long.toHexString(v) + ", expected 0x"
                                                + Long.toHexString(pattern(i, k)));
                                    }
                                }
                                case 1 -> {
                                    // The whole allocation in one scoped read: the index of the first long that
                                    // differs, or -1. A stale view may differ; only a validated result counts.
                                    final int ii = i;
                                    long bad = a.readAsLong(h, s -> {
                                        for (long k = 0; k < longs; k++) {
                                            long x = s.get(JAVA_LONG_UNALIGNED, 8 * k);
                                            if (x != pattern(ii, k)) {
                                                // Only counted (to show the race was hit): this view must be
                                                // thrown away by the validation.
                                                badViews[x == 0 ? 1 : 0]++;
                                                return k;
                                            }
                                        }
                                        return -1;
                                    });
                                    if (bad != -1) {
                                        throw new AssertionError("readAsLong returned a view of allocation " + i
                                                + " whose long " + bad + " is not the pattern (now 0x"
                                                + Long.toHexString(a.getLong(h, 8 * bad)) + ")");
                                    }
                                }
                                default -> {
                                    long k0 = r.nextLong(longs);
                                    long[] got = a.read(h, s -> {
                                        long[] out = new long[4];
                                        for (int j = 0; j < out.length; j++) {
                                            out[j] = s.get(JAVA_LONG_UNALIGNED, 8 * ((k0 + j) % longs));
                                        }
                                        return out;
                                    });
                                    for (int j = 0; j < got.length; j++) {
                                        long k = (k0 + j) % longs;
                                        if (got[j] != pattern(i, k)) {
                                            throw new AssertionError("read returned 0x" + Long.toHexString(got[j])
                                                    + " for long " + k + " of allocation " + i + ", expected 0x"
                                                    + Long.toHexString(pattern(i, k)));
                                        }
                                    }
                                }
                            }
                            if (++n == 64) {
                                readersRunning.countDown();
                            }
                        }
                    } catch (Throwable e) {
                        failure.compareAndSet(null, e);
                        failed.countDown();
                    } finally {
                        reads.addAndGet(n);
                        rejectedViews.addAndGet(badViews[0]);
                        rejectedZeroViews.addAndGet(badViews[1]);
                    }
                }));
            }
            threads.add(Thread.ofPlatform().name("control").start(() -> {
                SplittableRandom r = new SplittableRandom(42);
                try {
                    while (!stop.get() && !readersRunning.await(10, TimeUnit.MILLISECONDS)) {
                        // wait until every reader is reading (or the run ends)
                    }
                    while (!stop.get()) {
                        int node = 1 + r.nextInt(2);
                        RelocationReport rep;
                        switch (r.nextInt(3)) {
                            case 0 -> {
                                rep = a.offline(node, DEADLINE);
                                check(rep);
                                assertEquals(NodeState.UNPLUGGED, a.status().node(node).state(), "after " + rep);
                                unplugs.incrementAndGet();
                                a.plug(node);
                                a.enable(node);
                            }
                            case 1 -> {
                                a.disable(node);
                                rep = a.drain(node, DEADLINE);
                                check(rep);
                                a.unplug(node);
                                assertEquals(NodeState.UNPLUGGED, a.status().node(node).state(), "after " + rep);
                                unplugs.incrementAndGet();
                                a.plug(node);
                                a.enable(node);
                            }
                            default -> {
                                rep = a.remap(node, DEADLINE); // zone id == node id here
                                check(rep);
                            }
                        }
                        moved.addAndGet(rep.moved());
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                    failed.countDown();
                }
            }));
            boolean sawFailure = failed.await(RUN_MILLIS, TimeUnit.MILLISECONDS);
            stop.set(true);
            for (Thread t : threads) {
                t.join(60_000);
                assertFalse(t.isAlive(), t.getName() + " did not stop");
            }
            assertNull(failure.get(), () -> "failure: " + stackTrace(failure.get()));
            assertFalse(sawFailure);
            System.out.println("[address-range] late readers: " + reads.get() + " reads, " + unplugs.get()
                    + " unplugs, " + moved.get() + " blocks moved, 0 bad values; views thrown away by validation: "
                    + rejectedZeroViews.get() + " reading zeros, " + rejectedViews.get() + " other bytes");
            assertTrue(unplugs.get() >= 5, "too few unplugs to mean anything: " + unplugs.get());
            assertTrue(moved.get() >= 5L * count, "too few moves to mean anything: " + moved.get());
            assertTrue(reads.get() > 3_000, "too few reads to mean anything: " + reads.get());

            // Every allocation is whole after the run, and everything can be freed.
            for (int i = 0; i < count; i++) {
                MemorySegment copy = MemorySegment.ofArray(new long[(int) (sizes[i] / 8)]);
                a.copyTo(handles[i], 0, copy, 0, sizes[i]);
                for (int k = 0; k < sizes[i] / 8; k++) {
                    assertEquals(pattern(i, k), copy.getAtIndex(JAVA_LONG, k), "allocation " + i + " long " + k);
                }
                a.free(handles[i]);
            }
            Snapshots.check(a);
            assertNoActivePages(a);
        }
    }

    private static void check(RelocationReport rep) {
        if (!rep.complete() || rep.remaining() != 0 || !rep.failures().isEmpty() || !rep.stragglers().isEmpty()) {
            throw new AssertionError("nothing pins for long here, so every relocation completes: " + rep);
        }
    }

    private static void assertNoActivePages(PageAllocator a) {
        a.trimCaches();
        for (var n : a.status().nodes()) {
            for (ZoneStatus z : n.zones()) {
                assertEquals(0, z.activePages(), () -> "a block leaked: " + z + "\n" + a.status().render());
            }
        }
    }

    // ============================================================================================ (b) user segments

    /**
     * A Pin's segment kept past the pin: once its node is unplugged (here by offline, which first moves the
     * allocation away), get and set on it throw {@link IllegalStateException}; the allocation itself moved intact.
     * A segment of a node that stays plugged keeps working.
     */
    @Test
    void aPinSegmentThrowsOnceItsNodeIsUnplugged() {
        try (PageAllocator a = builder("pin-segment-unplug")
                .node(NodeSpec.fixed(4 * MIB))          // node 0
                .node(NodeSpec.hotRemovable(4 * MIB))   // node 1
                .build()) {
            long h = a.allocate(10_000, AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE, 1);
            assertEquals(1, a.nodeOf(h));
            MemorySegment kept;
            try (Pin p = a.pin(h)) {
                kept = p.segment();
                assertEquals(10_000, kept.byteSize());
                kept.set(JAVA_LONG_UNALIGNED, 0, 0x1122334455667788L);
                kept.set(JAVA_LONG_UNALIGNED, 10_000 - 8, 42L);
            }
            // A segment of node 0 that must keep working.
            long other = a.allocate(4096, AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE, 0);
            Pin otherPin = a.pin(other);
            MemorySegment otherSeg = otherPin.segment();
            otherSeg.set(JAVA_LONG_UNALIGNED, 8, 7L);

            RelocationReport rep = a.offline(1, DEADLINE);
            assertTrue(rep.complete(), rep::toString);
            assertEquals(1, rep.moved(), rep::toString);
            assertEquals(NodeState.UNPLUGGED, a.status().node(1).state());

            assertThrows(IllegalStateException.class, () -> kept.get(JAVA_LONG_UNALIGNED, 0));
            assertThrows(IllegalStateException.class, () -> kept.set(JAVA_LONG_UNALIGNED, 0, 1L));
            assertThrows(IllegalStateException.class, () -> kept.get(ValueLayout.JAVA_BYTE, 9_999));
            assertThrows(IllegalStateException.class, () -> kept.fill((byte) 1));

            assertEquals(0, a.nodeOf(h));
            assertEquals(0x1122334455667788L, a.getLong(h, 0), "the allocation moved with its bytes");
            assertEquals(42L, a.getLong(h, 10_000 - 8));
            assertEquals(7L, otherSeg.get(JAVA_LONG_UNALIGNED, 8), "node 0's segment is not affected");
            otherPin.close();

            // Plugged again: the old segment stays dead; a new allocation there gets a live segment.
            a.plug(1);
            a.enable(1);
            assertThrows(IllegalStateException.class, () -> kept.get(JAVA_LONG_UNALIGNED, 0));
            long h2 = a.allocate(10_000, AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE, 1);
            try (Pin p = a.pin(h2)) {
                p.segment().set(JAVA_LONG_UNALIGNED, 0, 99L);
                assertEquals(99L, p.getLong(0));
            }
            assertThrows(IllegalStateException.class, () -> kept.set(JAVA_LONG_UNALIGNED, 0, 1L));
            assertEquals(99L, a.getLong(h2, 0), "the dead segment wrote nothing");
            a.free(h2);
            a.free(h);
            a.free(other);
            Snapshots.check(a);
        }
    }

    /** The same through disable + drain + unplug instead of offline. */
    @Test
    void aPinSegmentThrowsOnceItsNodeIsDrainedAndUnplugged() {
        try (PageAllocator a = builder("pin-segment-drain")
                .node(NodeSpec.fixed(4 * MIB))
                .node(NodeSpec.hotRemovable(4 * MIB))
                .build()) {
            long h = a.allocate(4096, AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE, 1);
            MemorySegment kept;
            try (Pin p = a.pin(h)) {
                kept = p.segment();
                kept.set(JAVA_LONG_UNALIGNED, 0, 5L);
            }
            a.disable(1);
            RelocationReport rep = a.drain(1, DEADLINE);
            assertTrue(rep.complete(), rep::toString);
            a.unplug(1);
            assertThrows(IllegalStateException.class, () -> kept.get(JAVA_LONG_UNALIGNED, 0));
            assertThrows(IllegalStateException.class, () -> kept.set(JAVA_LONG_UNALIGNED, 0, 6L));
            assertEquals(5L, a.getLong(h, 0));
            a.free(h);
        }
    }

    /**
     * {@code segment(h)} of a non-movable allocation (NORMAL zones only: a fixed node; hot-removable nodes are all
     * MOVABLE and never take one) on a fixed node that is then emptied (free), disabled and unplugged: the kept
     * segment throws on get and set. A fixed node's NORMAL zone next to it, on another node, is not affected.
     */
    @Test
    void aNonMovableSegmentThrowsOnceItsNodeIsUnplugged() {
        try (PageAllocator a = builder("segment-unplug")
                .node(NodeSpec.fixed(4 * MIB))                        // node 0: Normal[0]
                .node(NodeSpec.fixed(4 * MIB).movableBytes(1 * MIB))  // node 1: Normal[1], Movable[2]
                .node(NodeSpec.hotRemovable(4 * MIB))                 // node 2: Movable[3]
                .build()) {
            long h = a.allocate(3000, AllocFlags.NONE | AllocFlags.THISNODE, 1);
            assertEquals(1, a.nodeOf(h));
            assertEquals(1, a.zoneOf(h), "a non-movable allocation is in a NORMAL zone");
            MemorySegment kept = a.segment(h);
            assertEquals(3000, kept.byteSize());
            kept.set(JAVA_LONG_UNALIGNED, 0, 77L);
            assertEquals(77L, a.getLong(h, 0));

            long h0 = a.allocate(3000, AllocFlags.NONE | AllocFlags.THISNODE, 0);
            MemorySegment seg0 = a.segment(h0);
            seg0.set(JAVA_LONG_UNALIGNED, 0, 88L);

            a.free(h);
            a.disable(1);
            a.unplug(1);
            assertEquals(NodeState.UNPLUGGED, a.status().node(1).state());
            assertThrows(IllegalStateException.class, () -> kept.get(JAVA_LONG_UNALIGNED, 0));
            assertThrows(IllegalStateException.class, () -> kept.set(JAVA_LONG_UNALIGNED, 0, 1L));
            assertThrows(IllegalStateException.class, () -> kept.get(ValueLayout.JAVA_BYTE, 2_999));

            assertEquals(88L, seg0.get(JAVA_LONG_UNALIGNED, 0), "node 0's segment is not affected");
            seg0.set(JAVA_LONG_UNALIGNED, 0, 89L);
            assertEquals(89L, a.getLong(h0, 0));

            a.plug(1);
            a.enable(1);
            assertThrows(IllegalStateException.class, () -> kept.get(JAVA_LONG_UNALIGNED, 0));
            long h1 = a.allocate(3000, AllocFlags.ZERO | AllocFlags.THISNODE, 1);
            MemorySegment fresh = a.segment(h1);
            assertEquals(0L, fresh.get(JAVA_LONG_UNALIGNED, 0));
            fresh.set(JAVA_LONG_UNALIGNED, 0, 3L);
            assertEquals(3L, a.getLong(h1, 0));
            a.free(h1);
            a.free(h0);
            Snapshots.check(a);
        }
    }

    // ============================================================================================ (c) addressSpace

    /**
     * Default with MMAP: the nodes given plus max(1 GiB, 4x the nodes). addNode may use all of that room and not a
     * page more; a refused addNode changes nothing.
     */
    @Test
    void theDefaultMmapAddressSpaceHasRoomForMaxOf1GiBAnd4xTheNodes() {
        assumeTrue(linux(), "MMAP backing needs Linux");
        // 4 MiB of nodes: the room is 1 GiB.
        try (PageAllocator a = builder("default-space-small").backing(MemoryBacking.MMAP)
                .node(NodeSpec.fixed(4 * MIB))
                .build()) {
            assertRoomIs(a, GIB, 4 * MIB + GIB);
        }
        // 512 MiB of nodes: the room is 2 GiB (4x). Unplugged nodes cost neither memory nor page maps.
        try (PageAllocator a = builder("default-space-4x").backing(MemoryBacking.MMAP)
                .node(NodeSpec.fixed(4 * MIB))
                .node(NodeSpec.hotRemovable(508 * MIB).startUnplugged())
                .build()) {
            assertRoomIs(a, 2 * GIB, 512 * MIB + 2 * GIB);
        }
    }

    /** addNode of {@code room + 1 page} is refused (changing nothing); of {@code room}, taken; then 1 page refused. */
    private static void assertRoomIs(PageAllocator a, long room, long total) {
        int nodes = a.nodeCount();
        String before = Snapshots.settled(a);
        long page = a.pageSize();
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> a.addNode(NodeSpec.hotRemovable(room + page).startUnplugged()));
        assertTrue(e.getMessage().contains(Long.toString(room + page)), e::getMessage);
        assertTrue(e.getMessage().contains(Long.toString(room)), e::getMessage);
        assertTrue(e.getMessage().contains(Long.toString(total)), e::getMessage);
        assertEquals(nodes, a.nodeCount());
        assertEquals(before, Snapshots.settled(a));

        int id = a.addNode(NodeSpec.hotRemovable(room).startUnplugged());
        assertEquals(nodes, id);
        assertEquals(nodes + 1, a.nodeCount());
        assertEquals(NodeState.UNPLUGGED, a.status().node(id).state());

        String full = Snapshots.settled(a);
        IllegalStateException e2 = assertThrows(IllegalStateException.class,
                () -> a.addNode(NodeSpec.fixed(page)));
        assertTrue(e2.getMessage().contains(Long.toString(page)), e2::getMessage);
        assertEquals(nodes + 1, a.nodeCount());
        assertEquals(full, Snapshots.settled(a));
        a.checkInvariants();
    }

    /** Default with ARENA: exactly the nodes given, so no addNode fits. */
    @Test
    void theDefaultArenaAddressSpaceIsExactlyTheNodes() {
        try (PageAllocator a = builder("default-space-arena").backing(MemoryBacking.ARENA)
                .node(NodeSpec.fixed(1 * MIB))
                .node(NodeSpec.hotRemovable(1 * MIB))
                .build()) {
            String before = Snapshots.settled(a);
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> a.addNode(NodeSpec.hotRemovable(4096)));
            assertTrue(e.getMessage().contains("4096"), e::getMessage);
            assertEquals(2, a.nodeCount());
            assertEquals(before, Snapshots.settled(a));
            long h = a.allocate(100, AllocFlags.HOTREMOVABLE, 1);
            a.setLong(h, 0, 1L);
            assertEquals(1L, a.getLong(h, 0), "the allocator still works after a refused addNode");
            a.free(h);
        }
    }

    /**
     * An explicit 8 MiB address space holding 4 MiB of nodes: an 8 MiB node does not fit (the message names both
     * byte counts; node count and status unchanged, no id used up), a 4 MiB node that fits still works (plugged,
     * enabled, allocated from, read and written), and then not a page more fits. With MMAP (where it is there)
     * and ARENA.
     */
    @Test
    void anExplicitAddressSpaceLimitsAddNodeAndARefusalChangesNothing() {
        List<MemoryBacking> backings = linux() ? List.of(MemoryBacking.MMAP, MemoryBacking.ARENA)
                : List.of(MemoryBacking.ARENA);
        for (MemoryBacking backing : backings) {
            try (PageAllocator a = builder("explicit-space-" + backing).backing(backing)
                    .addressSpace(8 * MIB)
                    .node(NodeSpec.fixed(2 * MIB))
                    .node(NodeSpec.hotRemovable(2 * MIB))
                    .build()) {
                long h = a.allocate(5000, AllocFlags.HOTREMOVABLE, 1);
                a.setLong(h, 0, 123L);
                String before = Snapshots.settled(a);

                IllegalStateException e = assertThrows(IllegalStateException.class,
                        () -> a.addNode(NodeSpec.hotRemovable(8 * MIB)), backing::toString);
                assertTrue(e.getMessage().contains(Long.toString(8 * MIB)), e::getMessage);
                assertTrue(e.getMessage().contains(Long.toString(4 * MIB)), e::getMessage);
                assertEquals(2, a.nodeCount());
                assertEquals(before, Snapshots.settled(a));
                IllegalStateException e2 = assertThrows(IllegalStateException.class,
                        () -> a.addNode(NodeSpec.fixed(4 * MIB + 4096).movableBytes(1 * MIB)));
                assertTrue(e2.getMessage().contains(Long.toString(4 * MIB + 4096)), e2::getMessage);
                assertEquals(2, a.nodeCount());
                assertEquals(before, Snapshots.settled(a));
                a.checkInvariants();

                int id = a.addNode(NodeSpec.hotRemovable(4 * MIB).startUnplugged());
                assertEquals(2, id, "a refused addNode used up no id");
                assertEquals(3, a.nodeCount());
                a.plug(id);
                a.enable(id);
                long h2 = a.allocate(a.maxAllocationBytes(),
                        AllocFlags.HOTREMOVABLE | AllocFlags.ZERO | AllocFlags.THISNODE, id);
                assertEquals(id, a.nodeOf(h2));
                assertEquals(0L, a.getLong(h2, a.maxAllocationBytes() - 8));
                a.setLong(h2, a.maxAllocationBytes() - 8, -1L);
                assertEquals(-1L, a.getLong(h2, a.maxAllocationBytes() - 8));
                assertEquals(123L, a.getLong(h, 0));

                assertThrows(IllegalStateException.class, () -> a.addNode(NodeSpec.fixed(4096)));
                assertEquals(3, a.nodeCount());

                // The last node's memory ends exactly at the end of the range: drain onto it and back.
                a.disable(1);
                RelocationReport rep = a.drain(1, id, DEADLINE);
                assertTrue(rep.complete(), rep::toString);
                assertEquals(id, a.nodeOf(h));
                assertEquals(123L, a.getLong(h, 0));
                a.free(h);
                a.free(h2);
                Snapshots.check(a);
            }
        }
    }

    /** An address space of exactly the nodes' bytes is accepted, and leaves no room. */
    @Test
    void anAddressSpaceOfExactlyTheNodesIsAccepted() {
        try (PageAllocator a = builder("exact-space").addressSpace(3 * MIB)
                .node(NodeSpec.fixed(1 * MIB))
                .node(NodeSpec.hotRemovable(2 * MIB))
                .build()) {
            long h = a.allocate(2 * MIB / 8, AllocFlags.HOTREMOVABLE | AllocFlags.ZERO, 1);
            assertEquals(0L, a.getLong(h, 2 * MIB / 8 - 8));
            assertThrows(IllegalStateException.class, () -> a.addNode(NodeSpec.fixed(4096)));
            assertEquals(2, a.nodeCount());
            a.free(h);
        }
    }

    /**
     * The builder refuses an address space that is not positive (at once), not a multiple of the page size, or
     * smaller than the nodes given (at build): IllegalArgumentException naming the value.
     */
    @Test
    void theBuilderRejectsABadAddressSpaceNamingIt() {
        for (long bad : new long[] {0, -1, -4096, Long.MIN_VALUE}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> PageAllocator.builder().addressSpace(bad), () -> "addressSpace(" + bad + ")");
            assertTrue(e.getMessage().contains(Long.toString(bad)), e::getMessage);
        }
        for (long bad : new long[] {4 * MIB + 1, 4 * MIB + 4095, 4097}) {
            PageAllocator.Builder b = builder("bad-space").addressSpace(bad).node(NodeSpec.fixed(4096));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, b::build,
                    () -> "addressSpace(" + bad + ")");
            assertTrue(e.getMessage().contains(Long.toString(bad)), e::getMessage);
        }
        // Not a multiple of 64 KiB pages, though of 4 KiB ones.
        PageAllocator.Builder big = PageAllocator.builder().name("bad-space-64k").pageSize(65536)
                .backgroundThread(false).addressSpace(4 * MIB + 4096).node(NodeSpec.fixed(1 * MIB));
        IllegalArgumentException e64 = assertThrows(IllegalArgumentException.class, big::build);
        assertTrue(e64.getMessage().contains(Long.toString(4 * MIB + 4096)), e64::getMessage);

        PageAllocator.Builder small = builder("small-space").addressSpace(2 * MIB)
                .node(NodeSpec.fixed(2 * MIB)).node(NodeSpec.hotRemovable(1 * MIB));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, small::build);
        assertTrue(e.getMessage().contains(Long.toString(2 * MIB)), e::getMessage);

        // The refused builds left nothing open: a good build with the same settings works.
        try (PageAllocator a = builder("good-space").addressSpace(3 * MIB)
                .node(NodeSpec.fixed(2 * MIB)).node(NodeSpec.hotRemovable(1 * MIB)).build()) {
            assertEquals(2, a.nodeCount());
        }
    }

    // ============================================================================================ (d) RSS

    /**
     * Touching 256 MiB of a node raises the RSS; unplugging the node (its pages go back with MADV_DONTNEED, the
     * range stays reserved) brings it down again. Plugged again, the node's memory counts as purged, and ZERO
     * allocations covering the whole node read zero, interleaved with non-ZERO ones (whose contents are not
     * specified).
     */
    @Test
    @EnabledOnOs(OS.LINUX)
    void unplugGivesTouchedMemoryBackAndAReplugServesZeroAllocations() throws IOException {
        try (PageAllocator a = PageAllocator.builder().name("rss-unplug").backing(MemoryBacking.MMAP)
                .pageSize(4096).maxOrder(10).backgroundThread(false).jmx(false)
                .node(NodeSpec.fixed(4 * MIB))
                .node(NodeSpec.hotRemovable(256 * MIB))
                .build()) {
            long block = 4 * MIB;
            int blocks = (int) (256 * MIB / block);
            long before = RssLinuxTest.rssBytes();
            long[] hs = new long[blocks];
            for (int i = 0; i < blocks; i++) {
                hs[i] = a.allocate(block, AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE, 1);
                for (long off = 0; off < block; off += 4096) {
                    a.setLong(hs[i], off, off + i + 1);
                }
            }
            long touched = RssLinuxTest.rssBytes();
            assertTrue(touched - before >= 250 * MIB,
                    "touching 256 MiB added only " + (touched - before) / MIB + " MiB of RSS");
            for (int i = 0; i < blocks; i++) {
                assertEquals(4096 + i + 1, a.getLong(hs[i], 4096));
                a.free(hs[i]);
            }
            a.disable(1);
            a.unplug(1);
            long unplugged = RssLinuxTest.rssBytes();
            assertTrue(touched - unplugged >= 240 * MIB,
                    "unplugging gave back only " + (touched - unplugged) / MIB + " MiB (RSS " + touched / MIB
                            + " -> " + unplugged / MIB + " MiB)");

            a.plug(1);
            a.enable(1);
            ZoneStatus z = a.status().zone(1);
            assertEquals(z.presentPages(), z.freePages(), z::toString);
            assertEquals(z.presentPages(), z.purgedPages(), () -> "a replugged node's memory was given back: " + z);

            // Fill the whole node again, alternating ZERO and non-ZERO blocks of two sizes.
            MemorySegment zeros = Arena.ofAuto().allocate(block);
            List<Long> live = new ArrayList<>();
            SplittableRandom r = new SplittableRandom(5);
            long zeroChecked = 0;
            while (true) {
                long bytes = r.nextBoolean() ? block : block / 4;
                boolean zero = r.nextBoolean();
                long h = a.tryAllocate(bytes, AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE
                        | (zero ? AllocFlags.ZERO : 0), 1);
                if (h == PageAllocator.NULL_HANDLE) {
                    h = a.tryAllocate(block / 4, AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE | AllocFlags.ZERO, 1);
                    if (h == PageAllocator.NULL_HANDLE) {
                        break;
                    }
                    bytes = block / 4;
                    zero = true;
                }
                live.add(h);
                if (zero) {
                    try (Pin p = a.pin(h)) {
                        long at = MemorySegment.mismatch(p.segment(), 0, bytes, zeros, 0, bytes);
                        assertEquals(-1, at, "ZERO allocation of " + bytes + " bytes on the replugged node has a "
                                + "non-zero byte at offset " + at);
                    }
                    zeroChecked += bytes;
                } else {
                    a.setLong(h, bytes - 8, 9L); // usable
                    assertEquals(9L, a.getLong(h, bytes - 8));
                }
            }
            assertTrue(zeroChecked >= 64 * MIB, "too little ZERO memory checked: " + zeroChecked / MIB + " MiB");
            assertEquals(256 * MIB / 4096, a.status().zone(1).activePages(), "the whole node was allocated");
            for (long h : live) {
                a.free(h);
            }
            Snapshots.check(a);
        }
    }
}

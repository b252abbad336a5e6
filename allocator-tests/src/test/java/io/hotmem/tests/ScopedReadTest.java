package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import io.hotmem.Pin;
import io.hotmem.RelocationReport;
import io.hotmem.StaleHandleException;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.function.Function;
import java.util.function.ToLongFunction;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The scoped reads {@link PageAllocator#read} and {@link PageAllocator#readAsLong}: records read under moves and a
 * writer, views of handles freed and reused by another thread, exceptions (the reader's own, bounds, null, stale,
 * closed), the pinned fallback, and the view itself (read-only, {@code sizeOf(handle)} bytes). Fixed seeds.
 */
class ScopedReadTest {
    private static final Duration DEADLINE = Duration.ofSeconds(20);
    private static final long RUN_MILLIS = 2_000;
    private static final long MIB = 1L << 20;
    private static final int RECORD_LONGS = 8;

    private static PageAllocator.Builder builder(String name) {
        return PageAllocator.builder().name(name).pageSize(4096).maxOrder(6).backgroundThread(false).jmx(false);
    }

    /** Nodes 0 (fixed), 1 and 2 (hot-removable); zone id == node id. */
    private static PageAllocator threeNodes(String name) {
        return builder(name)
                .node(NodeSpec.fixed(8 * MIB))
                .node(NodeSpec.hotRemovable(8 * MIB))
                .node(NodeSpec.hotRemovable(8 * MIB))
                .build();
    }

    private static String stackTrace(Throwable t) {
        var sw = new java.io.StringWriter();
        t.printStackTrace(new java.io.PrintWriter(sw));
        return sw.toString();
    }

    /** Runs {@code body} on a platform thread; a throwable goes to {@code failure} and stops everything. */
    private static Thread start(String name, AtomicReference<Throwable> failure, CountDownLatch failed,
                                ThrowingRunnable body) {
        return Thread.ofPlatform().name(name).start(() -> {
            try {
                body.run();
            } catch (Throwable e) {
                failure.compareAndSet(null, e);
                failed.countDown();
            }
        });
    }

    @FunctionalInterface
    private interface ThrowingRunnable {
        void run() throws Exception;
    }

    /** Moves everything back and forth between nodes 1 and 2 (remap, drain to the other) until {@code stop}. */
    private static void mover(PageAllocator a, AtomicBoolean stop, AtomicLong moved, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        while (!stop.get()) {
            int node = 1 + r.nextInt(2);
            RelocationReport rep;
            if (r.nextBoolean()) {
                rep = a.remap(node, DEADLINE);
            } else {
                a.disable(node);
                try {
                    rep = a.drain(node, 3 - node, DEADLINE);
                } finally {
                    a.enable(node);
                }
            }
            if (!rep.complete()) {
                throw new AssertionError("short pins must not stop a relocation: " + rep);
            }
            moved.addAndGet(rep.moved());
        }
    }

    // ================================================================================== (a) records under moves

    /** What the readers of {@link #runRecords} saw. */
    private static final class RecordTally {
        final AtomicLong moved = new AtomicLong();
        final AtomicLong writes = new AtomicLong();
        final AtomicLong reads = new AtomicLong();
        /** Records that were not 8 equal longs. */
        final AtomicLong torn = new AtomicLong();
        /** Whole records older than one the same reader saw before for that handle. */
        final AtomicLong recordBackwards = new AtomicLong();
        /** A long (a position, or a record's min or max) older than before, or zero: no write explains it. */
        final AtomicLong longBackwards = new AtomicLong();
        final List<String> tornExamples = java.util.Collections.synchronizedList(new ArrayList<>());
        final List<String> longExamples = java.util.Collections.synchronizedList(new ArrayList<>());

        void example(List<String> to, String what) {
            if (to.size() < 5) {
                to.add(what);
            }
        }

        String summary() {
            return reads.get() + " scoped reads: " + torn.get() + " torn records, " + recordBackwards.get()
                    + " whole records going back, " + longBackwards.get() + " longs going back or zero ("
                    + writes.get() + " writes, " + moved.get() + " blocks moved)";
        }
    }

    /**
     * A writer stores, under one Pin per record, a 64-byte record of 8 longs (written in order 0..7) all equal to a
     * counter that rises per handle, with a yield inside the pin now and then; a mover remaps and drains nodes 1
     * and 2 back and forth; two readers read whole records, alternately with read (all 8 longs) and readAsLong
     * (one value computed from the 8: all equal or -1, their min, or their max), for {@code millis}.
     */
    private static RecordTally runRecords(String name, long seed, long millis) throws Exception {
        RecordTally t = new RecordTally();
        try (PageAllocator a = threeNodes(name)) {
            int count = 16;
            long[] handles = new long[count];
            long[] offsets = new long[count];
            for (int i = 0; i < count; i++) {
                long size = 64 + 997L * i;
                handles[i] = a.allocate(size, AllocFlags.HOTREMOVABLE, 1 + (i & 1));
                offsets[i] = ((size - 64) / 2) & ~7L;
                try (Pin p = a.pin(handles[i])) {
                    for (int k = 0; k < RECORD_LONGS; k++) {
                        p.setLong(offsets[i] + 8L * k, 1);
                    }
                }
            }
            AtomicBoolean stop = new AtomicBoolean();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            CountDownLatch failed = new CountDownLatch(1);
            List<Thread> threads = new ArrayList<>();
            threads.add(start("writer", failure, failed, () -> {
                SplittableRandom r = new SplittableRandom(seed);
                long[] counter = new long[count];
                Arrays.fill(counter, 1);
                while (!stop.get()) {
                    int i = r.nextInt(count);
                    long c = ++counter[i];
                    boolean yield = r.nextInt(64) == 0;
                    try (Pin p = a.pin(handles[i])) {
                        for (int k = 0; k < RECORD_LONGS; k++) {
                            p.setLong(offsets[i] + 8L * k, c);
                            if (yield && k == RECORD_LONGS / 2) {
                                Thread.yield();
                            }
                        }
                    }
                    t.writes.incrementAndGet();
                }
            }));
            threads.add(start("mover", failure, failed, () -> mover(a, stop, t.moved, seed + 1)));
            for (int rd = 0; rd < 2; rd++) {
                final int id = rd;
                threads.add(start("reader-" + rd, failure, failed, () -> {
                    SplittableRandom r = new SplittableRandom(seed + 100 + id);
                    long[] seenRecord = new long[count];
                    long[][] seenLong = new long[count][RECORD_LONGS];
                    long[] seenMin = new long[count];
                    long[] seenMax = new long[count];
                    long n = 0;
                    while (!stop.get()) {
                        int i = r.nextInt(count);
                        long off = offsets[i];
                        int mode = (int) (n++ & 3);
                        if (mode == 0) {
                            long[] rec = a.read(handles[i], s -> {
                                long[] out = new long[RECORD_LONGS];
                                for (int k = 0; k < RECORD_LONGS; k++) {
                                    out[k] = s.get(JAVA_LONG_UNALIGNED, off + 8L * k);
                                }
                                return out;
                            });
                            boolean whole = true;
                            for (int k = 0; k < RECORD_LONGS; k++) {
                                whole &= rec[k] == rec[0];
                                if (rec[k] <= 0 || rec[k] < seenLong[i][k]) {
                                    t.longBackwards.incrementAndGet();
                                    t.example(t.longExamples, "read of handle " + i + ": long " + k + " is "
                                            + rec[k] + " after " + seenLong[i][k] + " in " + Arrays.toString(rec));
                                }
                                seenLong[i][k] = Math.max(seenLong[i][k], rec[k]);
                            }
                            if (!whole) {
                                t.torn.incrementAndGet();
                                t.example(t.tornExamples, "read of handle " + i + " returned the torn record "
                                        + Arrays.toString(rec));
                            } else if (rec[0] < seenRecord[i]) {
                                t.recordBackwards.incrementAndGet();
                                t.example(t.tornExamples, "read of handle " + i + " went back from record "
                                        + seenRecord[i] + " to " + rec[0]);
                            } else {
                                seenRecord[i] = rec[0];
                            }
                        } else if (mode == 1) {
                            // 8 equal longs: their value; otherwise -1 (counters are positive).
                            long v = a.readAsLong(handles[i], s -> {
                                long first = s.get(JAVA_LONG_UNALIGNED, off);
                                for (int k = 1; k < RECORD_LONGS; k++) {
                                    if (s.get(JAVA_LONG_UNALIGNED, off + 8L * k) != first) {
                                        return -1;
                                    }
                                }
                                return first;
                            });
                            if (v == -1) {
                                t.torn.incrementAndGet();
                                t.example(t.tornExamples, "readAsLong of handle " + i + " saw a torn record (its "
                                        + "8 longs were not equal)");
                            } else if (v <= 0 || v < seenRecord[i]) {
                                t.recordBackwards.incrementAndGet();
                                t.example(t.tornExamples, "readAsLong of handle " + i + " went back from record "
                                        + seenRecord[i] + " to " + v);
                            } else {
                                seenRecord[i] = v;
                            }
                        } else {
                            boolean min = mode == 2;
                            long v = a.readAsLong(handles[i], s -> {
                                long m = s.get(JAVA_LONG_UNALIGNED, off);
                                for (int k = 1; k < RECORD_LONGS; k++) {
                                    long x = s.get(JAVA_LONG_UNALIGNED, off + 8L * k);
                                    m = min ? Math.min(m, x) : Math.max(m, x);
                                }
                                return m;
                            });
                            long[] seen = min ? seenMin : seenMax;
                            if (v <= 0 || v < seen[i]) {
                                t.longBackwards.incrementAndGet();
                                t.example(t.longExamples, "readAsLong of handle " + i + ": the record's "
                                        + (min ? "min" : "max") + " went from " + seen[i] + " to " + v);
                            }
                            seen[i] = Math.max(seen[i], v);
                        }
                    }
                    t.reads.addAndGet(n);
                }));
            }
            boolean sawFailure = failed.await(millis, TimeUnit.MILLISECONDS);
            stop.set(true);
            for (Thread th : threads) {
                th.join(60_000);
                assertFalse(th.isAlive(), th.getName() + " did not stop");
            }
            assertNull(failure.get(), () -> "failure: " + stackTrace(failure.get()));
            assertFalse(sawFailure);
            System.out.println("[scoped-read] " + name + ": " + t.summary());
            assertTrue(t.reads.get() > 1_000, "readers read only " + t.reads.get());
            assertTrue(t.moved.get() > 0, "nothing moved");
            assertTrue(t.writes.get() > 100, "the writer hardly wrote: " + t.writes.get());
            for (long h : handles) {
                a.free(h);
            }
            Snapshots.check(a);
        }
        return t;
    }

    // A scoped read does not exclude writers (PageAllocator.read: "What consistent covers"): a record rewritten under
    // a Pin while it is read may show partly, so the per-long test below is the guarantee to check under a writer.


    /**
     * The per-long guarantee alone (README: accessors of one allocation are linearizable, an 8-aligned long is
     * never torn), which no concurrent write can break: every long of a record, and a record's min and max, read
     * in scoped reads under moves and a writer, is never zero and never older than what the same reader saw
     * before for that handle.
     */
    @Test
    void everyLongOfAScopedReadIsNeverZeroNorOlderUnderMovesAndAWriter() throws Exception {
        RecordTally t = runRecords("scoped-longs", 8, RUN_MILLIS / 2);
        assertEquals(0, t.longBackwards.get(), () -> t.summary() + "; first: " + t.longExamples);
    }

    /**
     * The move half of the above, alone: the records are written once (record i: 8 longs equal to i + 1) and never
     * again, so nothing but the moves can change what a reader sees. Every scoped read, while the mover remaps and
     * drains back and forth, must return record i whole.
     */
    @Test
    void recordsWrittenOnceReadWholeUnderContinuousMoves() throws Exception {
        try (PageAllocator a = threeNodes("scoped-records-moves")) {
            int count = 32;
            long[] handles = new long[count];
            long[] offsets = new long[count];
            for (int i = 0; i < count; i++) {
                long size = 64 + 1499L * i;
                handles[i] = a.allocate(size, AllocFlags.HOTREMOVABLE, 1 + (i & 1));
                offsets[i] = (size - 64) & ~7L;
                for (int k = 0; k < RECORD_LONGS; k++) {
                    a.setLong(handles[i], offsets[i] + 8L * k, i + 1);
                }
            }
            AtomicBoolean stop = new AtomicBoolean();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            CountDownLatch failed = new CountDownLatch(1);
            AtomicLong moved = new AtomicLong();
            AtomicLong reads = new AtomicLong();
            AtomicLong bad = new AtomicLong();
            List<String> badExamples = java.util.Collections.synchronizedList(new ArrayList<>());
            List<Thread> threads = new ArrayList<>();
            threads.add(start("mover", failure, failed, () -> mover(a, stop, moved, 43)));
            for (int rd = 0; rd < 2; rd++) {
                final int id = rd;
                threads.add(start("reader-" + rd, failure, failed, () -> {
                    SplittableRandom r = new SplittableRandom(200 + id);
                    long n = 0;
                    while (!stop.get()) {
                        int i = r.nextInt(count);
                        long off = offsets[i];
                        long[] rec;
                        String how;
                        if ((n++ & 1) == 0) {
                            how = "readAsLong (all 8 equal: their value, else -1)";
                            long v = a.readAsLong(handles[i], s -> {
                                long first = s.get(JAVA_LONG_UNALIGNED, off);
                                for (int k = 1; k < RECORD_LONGS; k++) {
                                    if (s.get(JAVA_LONG_UNALIGNED, off + 8L * k) != first) {
                                        return -1;
                                    }
                                }
                                return first;
                            });
                            rec = new long[RECORD_LONGS];
                            Arrays.fill(rec, v);
                        } else {
                            how = "read";
                            rec = a.read(handles[i], s -> {
                                long[] out = new long[RECORD_LONGS];
                                for (int k = 0; k < RECORD_LONGS; k++) {
                                    out[k] = s.get(JAVA_LONG_UNALIGNED, off + 8L * k);
                                }
                                return out;
                            });
                        }
                        boolean ok = true;
                        for (long x : rec) {
                            ok &= x == i + 1;
                        }
                        if (!ok) {
                            bad.incrementAndGet();
                            if (badExamples.size() < 5) {
                                long[] now = new long[RECORD_LONGS];
                                for (int k = 0; k < RECORD_LONGS; k++) {
                                    now[k] = a.getLong(handles[i], off + 8L * k);
                                }
                                badExamples.add(how + " of handle " + i + " (0x" + Long.toHexString(handles[i])
                                        + ", " + a.sizeOf(handles[i]) + " bytes, record at " + off + ", now in zone "
                                        + a.zoneOf(handles[i]) + ") returned " + Arrays.toString(rec)
                                        + ", expected all " + (i + 1) + "; read again with getLong: "
                                        + Arrays.toString(now) + " (after " + n + " reads of this reader)");
                            }
                        }
                    }
                    reads.addAndGet(n);
                }));
            }
            boolean sawFailure = failed.await(RUN_MILLIS / 2, TimeUnit.MILLISECONDS);
            stop.set(true);
            for (Thread t : threads) {
                t.join(60_000);
                assertFalse(t.isAlive(), t.getName() + " did not stop");
            }
            assertNull(failure.get(), () -> "failure: " + stackTrace(failure.get()));
            assertFalse(sawFailure);
            System.out.println("[scoped-read] records written once: " + reads.get() + " scoped reads, " + bad.get()
                    + " bad, " + moved.get() + " blocks moved");
            assertEquals(0, bad.get(), () -> bad.get() + " of " + reads.get() + " scoped reads returned a record that "
                    + "is not the one written (" + moved.get() + " blocks moved, no write during the run); first: "
                    + String.join("; ", badExamples));
            assertTrue(reads.get() > 1_000, "readers read only " + reads.get());
            assertTrue(moved.get() > count, "too few moves: " + moved.get());
            for (int i = 0; i < count; i++) {
                for (int k = 0; k < RECORD_LONGS; k++) {
                    assertEquals(i + 1, a.getLong(handles[i], offsets[i] + 8L * k), "handle " + i + " long " + k);
                }
                a.free(handles[i]);
            }
            Snapshots.check(a);
        }
    }

    // ================================================================================== (b) foreign views

    /** A published allocation: its handle and the sequence number every long of it holds. */
    private record Published(long handle, long seq, long size) {
    }

    /**
     * A churner allocates (thread caches on: a freed block and slot come back first), fills each new allocation
     * with its own sequence number, publishes it in a ring, and frees it a few allocations later; a remapper moves
     * node 1 meanwhile. Readers take entries from the ring (mostly freed already, some live, some freed while they
     * read) and read them: each read either throws {@link StaleHandleException} or returns the entry's own
     * sequence number in every long it looked at, never another allocation's.
     */
    @Test
    void aReaderOfAFreedAndReusedHandleGetsStaleOrItsOwnPatternNeverAnothers() throws Exception {
        try (PageAllocator a = builder("scoped-foreign")
                .node(NodeSpec.fixed(8 * MIB))
                .node(NodeSpec.hotRemovable(8 * MIB))
                .build()) {
            int ring = 64;
            AtomicReferenceArray<Published> published = new AtomicReferenceArray<>(ring);
            AtomicBoolean stop = new AtomicBoolean();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            CountDownLatch failed = new CountDownLatch(1);
            CountDownLatch ringFull = new CountDownLatch(1);
            AtomicLong churned = new AtomicLong();
            AtomicLong consistent = new AtomicLong();
            AtomicLong stale = new AtomicLong();
            AtomicLong rejected = new AtomicLong();
            AtomicLong remaps = new AtomicLong();
            List<Thread> threads = new ArrayList<>();
            threads.add(start("churner", failure, failed, () -> {
                SplittableRandom r = new SplittableRandom(9);
                long[] sizes = {64, 4096, 8192, 24_000};
                ArrayDeque<Published> live = new ArrayDeque<>();
                long seq = 0;
                try {
                    while (!stop.get()) {
                        long size = sizes[r.nextInt(sizes.length)];
                        long h = a.allocate(size, AllocFlags.HOTREMOVABLE, 1);
                        long s = ++seq;
                        try (Pin p = a.pin(h)) {
                            for (long off = 0; off + 8 <= size; off += 8) {
                                p.setLong(off, s);
                            }
                        }
                        Published e = new Published(h, s, size);
                        published.set((int) (s % ring), e); // volatile store: after the pattern is written
                        live.add(e);
                        if (live.size() > 4) {
                            a.free(live.poll().handle());
                            churned.incrementAndGet();
                        }
                        if (s == ring) {
                            ringFull.countDown();
                        }
                    }
                } finally {
                    for (Published e : live) {
                        a.free(e.handle());
                    }
                }
            }));
            threads.add(start("remapper", failure, failed, () -> {
                ringFull.await();
                while (!stop.get()) {
                    a.remap(1, Duration.ofMillis(50)); // may be short of time while the churner pins: fine
                    remaps.incrementAndGet();
                    Thread.yield();
                }
            }));
            for (int rd = 0; rd < 2; rd++) {
                final int id = rd;
                threads.add(start("reader-" + rd, failure, failed, () -> {
                    SplittableRandom r = new SplittableRandom(300 + id);
                    ringFull.await();
                    long n = 0;
                    long[] foreignViews = new long[1];
                    while (!stop.get()) {
                        Published e = published.get(r.nextInt(ring));
                        long longs = e.size() / 8;
                        try {
                            long got;
                            if ((n++ & 1) == 0) {
                                // Every long equal to the first: the first; otherwise Long.MIN_VALUE.
                                got = a.readAsLong(e.handle(), s -> {
                                    long n8 = Math.min(longs, s.byteSize() / 8);
                                    long first = s.get(JAVA_LONG_UNALIGNED, 0);
                                    if (first != e.seq()) {
                                        foreignViews[0]++; // counted only: this view must be thrown away
                                    }
                                    for (long k = 1; k < n8; k++) {
                                        if (s.get(JAVA_LONG_UNALIGNED, 8 * k) != first) {
                                            return Long.MIN_VALUE;
                                        }
                                    }
                                    return first;
                                });
                            } else {
                                long[] sample = a.read(e.handle(), s -> new long[] {
                                        s.get(JAVA_LONG_UNALIGNED, 0),
                                        s.get(JAVA_LONG_UNALIGNED, s.byteSize() / 2 & ~7L),
                                        s.get(JAVA_LONG_UNALIGNED, s.byteSize() - 8),
                                        s.byteSize()});
                                if (sample[3] != e.size()) {
                                    throw new AssertionError("read of seq " + e.seq() + " saw a view of "
                                            + sample[3] + " bytes, not its " + e.size());
                                }
                                got = sample[0] == sample[1] && sample[1] == sample[2] ? sample[0]
                                        : Long.MIN_VALUE;
                            }
                            if (got != e.seq()) {
                                throw new AssertionError("a scoped read of the allocation with sequence number "
                                        + e.seq() + " (handle 0x" + Long.toHexString(e.handle()) + ") returned "
                                        + (got == Long.MIN_VALUE ? "a mixed view" : "the pattern of " + got));
                            }
                            consistent.incrementAndGet();
                        } catch (StaleHandleException expected) {
                            stale.incrementAndGet();
                        }
                    }
                    rejected.addAndGet(foreignViews[0]);
                }));
            }
            boolean sawFailure = failed.await(RUN_MILLIS, TimeUnit.MILLISECONDS);
            stop.set(true);
            ringFull.countDown();
            for (Thread t : threads) {
                t.join(60_000);
                assertFalse(t.isAlive(), t.getName() + " did not stop");
            }
            assertNull(failure.get(), () -> "failure: " + stackTrace(failure.get()));
            assertFalse(sawFailure);
            System.out.println("[scoped-read] foreign: " + consistent.get() + " consistent, " + stale.get()
                    + " stale, " + churned.get() + " frees, " + remaps.get() + " remaps, 0 foreign views accepted, "
                    + rejected.get() + " views of another allocation thrown away by the validation");
            assertTrue(consistent.get() > 500, "too few consistent reads: " + consistent.get());
            assertTrue(stale.get() > 500, "too few stale reads: " + stale.get());
            assertTrue(churned.get() > 1_000, "too little churn: " + churned.get());
            Snapshots.check(a);
        }
    }

    // ================================================================================== (c) exceptions

    /** A reader's own RuntimeException on a consistent view propagates as the same instance, after one call. */
    @Test
    void aReadersOwnExceptionPropagatesUnchanged() {
        try (PageAllocator a = threeNodes("scoped-own-exception")) {
            long h = a.allocate(1000, AllocFlags.HOTREMOVABLE | AllocFlags.ZERO, 1);
            class ReaderFailure extends RuntimeException {
                ReaderFailure(String m) {
                    super(m);
                }
            }
            ReaderFailure boom = new ReaderFailure("boom");
            AtomicInteger calls = new AtomicInteger();
            ReaderFailure e1 = assertThrows(ReaderFailure.class, () -> a.read(h, s -> {
                calls.incrementAndGet();
                throw boom;
            }));
            assertSame(boom, e1);
            assertEquals(1, calls.get(), "nothing moved: the first view was consistent");

            IllegalArgumentException iae = new IllegalArgumentException("reader's own");
            calls.set(0);
            IllegalArgumentException e2 = assertThrows(IllegalArgumentException.class, () -> a.readAsLong(h, s -> {
                calls.incrementAndGet();
                throw iae;
            }));
            assertSame(iae, e2);
            assertEquals(1, calls.get());

            // Errors propagate at once, unchanged.
            AssertionError err = new AssertionError("reader's error");
            calls.set(0);
            assertSame(err, assertThrows(AssertionError.class, () -> a.read(h, s -> {
                calls.incrementAndGet();
                throw err;
            })));
            assertEquals(1, calls.get());
            StackOverflowError soe = new StackOverflowError("reader's other error");
            assertSame(soe, assertThrows(StackOverflowError.class, () -> a.readAsLong(h, s -> {
                throw soe;
            })));

            // Nothing stayed pinned: the allocation moves and can be freed.
            RelocationReport rep = a.remap(1, DEADLINE);
            assertTrue(rep.complete() && rep.moved() == 1, rep::toString);
            a.free(h);
            Snapshots.check(a);
        }
    }

    /**
     * A reader that sees its allocation move at every call (it remaps the allocation's zone itself, a side
     * effect no real reader may have, so that every optimistic attempt fails validation) ends up with a pinned,
     * stable view: in that call a remap cannot move the block (it reports it pinned, naming the handle), and what
     * the reader returns there is the result. The pin is gone afterwards, also when that last call throws.
     */
    @Test
    void aReaderThatKeepsSeeingMovesGetsAPinnedViewAtLast() {
        try (PageAllocator a = threeNodes("scoped-fallback")) {
            long h = a.allocate(5000, AllocFlags.HOTREMOVABLE, 1);
            a.setLong(h, 8, 1234L);
            List<RelocationReport> reports = new ArrayList<>();
            long v = a.readAsLong(h, s -> {
                RelocationReport rep = a.remap(a.zoneOf(h), Duration.ZERO);
                reports.add(rep);
                if (reports.size() > 64) {
                    throw new AssertionError("still optimistic after 64 calls: " + reports);
                }
                return s.get(JAVA_LONG_UNALIGNED, 8) + reports.size();
            });
            assertTrue(reports.size() >= 2, () -> "the first attempt moved, so it cannot be the result: " + reports);
            RelocationReport last = reports.get(reports.size() - 1);
            assertFalse(last.complete(), () -> "the last call must run pinned: " + reports);
            assertTrue(last.pinnedHandles().contains(h), last::toString);
            for (RelocationReport r : reports.subList(0, reports.size() - 1)) {
                assertTrue(r.complete() && r.moved() == 1, () -> "optimistic calls see no pin: " + reports);
            }
            assertEquals(1234L + reports.size(), v, "the pinned call's result is returned");
            assertEquals(1234L, a.getLong(h, 8));
            RelocationReport after = a.remap(a.zoneOf(h), DEADLINE);
            assertTrue(after.complete() && after.moved() == 1, () -> "the fallback's pin was released: " + after);

            // The same with read(...), whose pinned call throws: same instance, pin released.
            RuntimeException boom = new RuntimeException("thrown on the pinned view");
            AtomicInteger calls = new AtomicInteger();
            AtomicReference<RelocationReport> pinnedCall = new AtomicReference<>();
            RuntimeException e = assertThrows(RuntimeException.class, () -> a.read(h, s -> {
                calls.incrementAndGet();
                RelocationReport rep = a.remap(a.zoneOf(h), Duration.ZERO);
                if (calls.get() > 64) {
                    throw new AssertionError("still optimistic after 64 calls");
                }
                if (!rep.complete()) {
                    pinnedCall.set(rep);
                    throw boom;
                }
                return s.get(JAVA_LONG_UNALIGNED, 8);
            }));
            assertSame(boom, e);
            assertTrue(pinnedCall.get() != null && pinnedCall.get().pinnedHandles().contains(h),
                    () -> "the throwing call ran pinned: " + pinnedCall.get());
            RelocationReport again = a.remap(a.zoneOf(h), DEADLINE);
            assertTrue(again.complete() && again.moved() == 1, () -> "the pin was released: " + again);
            a.free(h); // would throw IllegalStateException if still pinned
            Snapshots.check(a);
        }
    }

    /**
     * An exception a reader throws on a view that a move made stale is a retry, not the result, in each of the three
     * scoped reads: the first call (the inlined first attempt) remaps the allocation's zone, so its validation fails,
     * and throws; the second call's value is returned, and nothing stays pinned.
     */
    @Test
    void anExceptionFromAViewAMoveMadeStaleIsARetry() {
        try (PageAllocator a = threeNodes("scoped-stale-throw")) {
            long h = a.allocate(5000, AllocFlags.HOTREMOVABLE, 1);
            a.setLong(h, 8, 77L);
            a.setLong(h, 16, 88L);
            AtomicInteger calls = new AtomicInteger();
            java.util.function.Function<java.lang.foreign.MemorySegment, Long> moveThenThrowOnce = s -> {
                if (calls.incrementAndGet() == 1) {
                    RelocationReport rep = a.remap(a.zoneOf(h), DEADLINE);
                    assertTrue(rep.complete() && rep.moved() == 1, rep::toString);
                    throw new IllegalStateException("thrown on a view the move made stale");
                }
                return s.get(JAVA_LONG_UNALIGNED, 8) + s.get(JAVA_LONG_UNALIGNED, 16);
            };

            assertEquals(165L, a.read(h, moveThenThrowOnce));
            assertEquals(2, calls.getAndSet(0), "read: one stale call, one that counts");
            assertEquals(165L, a.readAsLong(h, moveThenThrowOnce::apply));
            assertEquals(2, calls.getAndSet(0), "readAsLong(whole): one stale call, one that counts");
            assertEquals(165L, a.readAsLong(h, 0, 24, moveThenThrowOnce::apply));
            assertEquals(2, calls.getAndSet(0), "readAsLong(part): one stale call, one that counts");

            RelocationReport after = a.remap(a.zoneOf(h), DEADLINE);
            assertTrue(after.complete() && after.moved() == 1, () -> "nothing stayed pinned: " + after);
            a.free(h);
            Snapshots.check(a);
        }
    }

    /** Reading outside the view (which is exactly sizeOf(handle) bytes, not the block) throws IndexOutOfBounds. */
    @Test
    void aReaderReadingOutsideTheViewGetsIndexOutOfBounds() {
        try (PageAllocator a = threeNodes("scoped-bounds")) {
            long h = a.allocate(1000, AllocFlags.HOTREMOVABLE | AllocFlags.ZERO, 1); // a 4 KiB block
            a.setLong(h, 992, 55L);
            assertEquals(55L, a.readAsLong(h, s -> s.get(JAVA_LONG_UNALIGNED, 992)));
            assertEquals(0, a.readAsLong(h, s -> s.get(JAVA_BYTE, 999)));
            List<ToLongFunction<MemorySegment>> outside = List.of(
                    s -> s.get(JAVA_LONG_UNALIGNED, 993),
                    s -> s.get(JAVA_INT_UNALIGNED, 997),
                    s -> s.get(JAVA_BYTE, 1000),
                    s -> s.get(JAVA_BYTE, 4095),
                    s -> s.get(JAVA_BYTE, -1),
                    s -> s.get(JAVA_LONG_UNALIGNED, Long.MAX_VALUE),
                    s -> s.asSlice(0, 1001).byteSize());
            for (int i = 0; i < outside.size(); i++) {
                ToLongFunction<MemorySegment> f = outside.get(i);
                assertThrows(IndexOutOfBoundsException.class, () -> a.readAsLong(h, f), "readAsLong case " + i);
                assertThrows(IndexOutOfBoundsException.class, () -> a.read(h, f::applyAsLong), "read case " + i);
            }
            long fixed = a.allocate(100, AllocFlags.ZERO, 0);
            assertThrows(IndexOutOfBoundsException.class, () -> a.read(fixed, s -> s.get(JAVA_BYTE, 100)));
            assertEquals(0L, a.readAsLong(fixed, s -> s.get(JAVA_LONG_UNALIGNED, 92)));
            a.free(fixed);
            a.free(h);
            Snapshots.check(a);
        }
    }

    /** A null reader is refused with NullPointerException, for a live handle and changing nothing. */
    @Test
    void aNullReaderIsRefused() {
        try (PageAllocator a = threeNodes("scoped-null")) {
            long h = a.allocate(64, AllocFlags.HOTREMOVABLE, 1);
            a.setLong(h, 0, 3L);
            assertThrows(NullPointerException.class, () -> a.read(h, null));
            assertThrows(NullPointerException.class, () -> a.readAsLong(h, null));
            assertEquals(3L, a.getLong(h, 0));
            a.free(h); // not left pinned
        }
    }

    /** A freed, twice freed, NULL, garbage or foreign handle: StaleHandleException, and the reader never runs. */
    @Test
    void aStaleHandleGetsStaleHandleExceptionBeforeTheReaderRuns() {
        try (PageAllocator a = threeNodes("scoped-stale");
             PageAllocator other = threeNodes("scoped-stale-other")) {
            long freed = a.allocate(64, AllocFlags.HOTREMOVABLE, 1);
            a.free(freed);
            long reused = a.allocate(64, AllocFlags.HOTREMOVABLE, 1); // likely the same slot, next generation
            a.setLong(reused, 0, 9L);
            long twice = a.allocate(64, AllocFlags.NONE);
            a.free(twice);
            assertThrows(StaleHandleException.class, () -> a.free(twice));
            long foreign = other.allocate(64, AllocFlags.HOTREMOVABLE, 1);
            AtomicInteger calls = new AtomicInteger();
            Function<MemorySegment, Long> reader = s -> {
                calls.incrementAndGet();
                return s.get(JAVA_LONG_UNALIGNED, 0);
            };
            ToLongFunction<MemorySegment> longReader = s -> {
                calls.incrementAndGet();
                return s.get(JAVA_LONG_UNALIGNED, 0);
            };
            long[] bads = {freed, twice, PageAllocator.NULL_HANDLE, -1L, 0x7fff_ffff_ffffL, foreign,
                    reused ^ (1L << 40), reused + 1_000_000, reused ^ (1L << 62)};
            for (long bad : bads) {
                assertThrows(StaleHandleException.class, () -> a.read(bad, reader), () -> Long.toHexString(bad));
                assertThrows(StaleHandleException.class, () -> a.readAsLong(bad, longReader),
                        () -> Long.toHexString(bad));
            }
            assertEquals(0, calls.get(), "a reader ran for a stale handle");
            assertEquals(9L, a.readAsLong(reused, longReader));
            a.free(reused);
            other.free(foreign);
        }
    }

    /**
     * After close: IllegalStateException saying the allocator is closed, whatever the reader does (reads the
     * segment, or only computes from it or not at all).
     */
    @Test
    void aScopedReadAfterCloseThrowsIllegalState() {
        PageAllocator a = threeNodes("scoped-closed");
        long movable = a.allocate(64, AllocFlags.HOTREMOVABLE, 1);
        long fixed = a.allocate(64, AllocFlags.NONE, 0);
        a.setLong(movable, 0, 1L);
        a.close();
        List<String> wrong = new ArrayList<>();
        for (long h : new long[] {movable, fixed}) {
            String which = h == movable ? "movable" : "non-movable";
            checkClosed(wrong, which + " read(get)", () -> a.read(h, s -> s.get(JAVA_LONG_UNALIGNED, 0)));
            checkClosed(wrong, which + " readAsLong(get)",
                    () -> a.readAsLong(h, s -> s.get(JAVA_LONG_UNALIGNED, 0)));
            checkClosed(wrong, which + " read(byteSize)", () -> a.read(h, MemorySegment::byteSize));
            checkClosed(wrong, which + " readAsLong(byteSize)", () -> a.readAsLong(h, MemorySegment::byteSize));
            checkClosed(wrong, which + " readAsLong(constant)", () -> a.readAsLong(h, s -> 42L));
            checkClosed(wrong, which + " read(null)", () -> a.read(h, null));
        }
        assertTrue(wrong.isEmpty(), () -> "after close(), these scoped reads did not throw IllegalStateException "
                + "saying the allocator is closed:\n  " + String.join("\n  ", wrong));
    }

    private static void checkClosed(List<String> wrong, String what, java.util.concurrent.Callable<?> call) {
        try {
            Object result = call.call();
            wrong.add(what + " returned " + result);
        } catch (IllegalStateException e) {
            if (e.getMessage() == null || !e.getMessage().contains("closed")) {
                wrong.add(what + " threw " + e);
            }
        } catch (Throwable t) {
            wrong.add(what + " threw " + t);
        }
    }

    // ================================================================================== (d) the view

    /**
     * The view is read-only (JDK 25: a write through a read-only segment throws IllegalArgumentException, which
     * propagates from the consistent view unchanged, writing nothing), exactly sizeOf(handle) bytes, and holds the
     * allocation's bytes; the same for a non-movable allocation.
     */
    @Test
    void theViewIsReadOnlyAndSizeOfBytesLong() {
        try (PageAllocator a = threeNodes("scoped-view")) {
            long[] sizes = {1, 7, 8, 100, 4095, 4096, 4097, 65_536, a.maxAllocationBytes()};
            for (long size : sizes) {
                for (int flags : new int[] {AllocFlags.HOTREMOVABLE | AllocFlags.ZERO, AllocFlags.ZERO}) {
                    long h = a.allocate(size, flags);
                    String what = size + " bytes, " + AllocFlags.toString(flags);
                    a.setByte(h, size - 1, (byte) 0x5A);
                    assertEquals(size, a.readAsLong(h, MemorySegment::byteSize), what);
                    assertEquals(a.sizeOf(h), (long) a.read(h, MemorySegment::byteSize), what);
                    assertTrue(a.read(h, MemorySegment::isReadOnly), what);
                    assertEquals(0x5A, a.readAsLong(h, s -> s.get(JAVA_BYTE, size - 1)), what);

                    assertThrows(IllegalArgumentException.class,
                            () -> a.read(h, s -> {
                                s.set(JAVA_BYTE, size - 1, (byte) 1);
                                return null;
                            }), what);
                    assertThrows(IllegalArgumentException.class, () -> a.readAsLong(h, s -> {
                        s.fill((byte) 1);
                        return 0;
                    }), what);
                    if (size >= 8) {
                        assertThrows(IllegalArgumentException.class, () -> a.readAsLong(h, s -> {
                            s.set(JAVA_LONG_UNALIGNED, 0, -1L);
                            return 0;
                        }), what);
                        assertThrows(IllegalArgumentException.class, () -> a.read(h, s -> {
                            MemorySegment.copy(MemorySegment.ofArray(new long[] {-1L}), 0, s, 0, 8);
                            return null;
                        }), what);
                    }
                    assertEquals((byte) 0x5A, a.getByte(h, size - 1), "nothing was written: " + what);
                    if (size > 1) {
                        assertEquals(0, a.getByte(h, 0), "nothing was written: " + what);
                    }
                    byte[] copy = a.read(h, s -> s.toArray(JAVA_BYTE));
                    assertEquals(size, copy.length, what);
                    MemorySegment expected = MemorySegment.ofArray(new byte[(int) size]);
                    a.copyTo(h, 0, expected, 0, size);
                    assertArrayEquals(expected.toArray(JAVA_BYTE), copy, what);
                    a.free(h);
                }
            }
            Snapshots.check(a);
        }
    }

    /** The view shows what the typed accessors wrote, in native order: one scoped read of a mixed record. */
    @Test
    void theViewShowsWhatTheAccessorsWrote() {
        try (PageAllocator a = threeNodes("scoped-record")) {
            long h = a.allocate(24, AllocFlags.HOTREMOVABLE, 2);
            a.setLong(h, 0, 10L);
            a.setLong(h, 8, 20L);
            a.setInt(h, 16, 30);
            a.setByte(h, 20, (byte) 4);
            long total = a.readAsLong(h, s -> s.get(JAVA_LONG_UNALIGNED, 0) + s.get(JAVA_LONG_UNALIGNED, 8)
                    + s.get(JAVA_INT_UNALIGNED, 16) + s.get(JAVA_BYTE, 20));
            assertEquals(64L, total);
            record Point(long x, int y) {
            }
            Point p = a.read(h, s -> new Point(s.get(ValueLayout.JAVA_LONG_UNALIGNED, 8),
                    s.get(ValueLayout.JAVA_INT_UNALIGNED, 16)));
            assertEquals(new Point(20L, 30), p);
            assertNull(a.read(h, s -> null), "a null result is a result");
            a.free(h);
        }
    }
}

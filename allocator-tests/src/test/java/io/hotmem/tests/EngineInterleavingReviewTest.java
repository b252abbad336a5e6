package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.NodeSpec;
import io.hotmem.NodeStatus;
import io.hotmem.NodeState;
import io.hotmem.PageAllocator;
import io.hotmem.Pin;
import io.hotmem.MemoryStatus;
import io.hotmem.ZoneStatus;
import io.hotmem.LeakDetection;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * An adversarial review's probes of the engine under interleavings (2026-12-02; none failed): two workers churn
 * exact runs of odd sizes (some ZERO, ALIGNED or not movable), check every byte they wrote, free their own and each
 * other's allocations (through the other thread's cache) and pin them, while a controller compacts, remaps, drains,
 * offlines, replugs and trims, with the purge at once and the resident free limit at 0, at SAMPLED, PARANOID, with
 * large caches and elastic; and a single-threaded fixed-seed sequence whose status must add up exactly after each
 * step. Fixed seeds; time-bounded.
 */
class EngineInterleavingReviewTest {
    private static final int PAGE = 4096;

    record Live(long handle, long size, long id) {
    }

    static long word(long id, long off) {
        return id << 32 | (off >>> 3);
    }

    static void fill(PageAllocator a, Live l) {
        MemorySegment buf = MemorySegment.ofArray(new long[(int) ((l.size + 7) >>> 3)]);
        for (long off = 0; off + 8 <= l.size; off += 8) {
            buf.set(ValueLayout.JAVA_LONG_UNALIGNED, off, word(l.id, off));
        }
        for (long off = l.size & ~7L; off < l.size; off++) {
            buf.set(ValueLayout.JAVA_BYTE, off, (byte) (l.id + off));
        }
        a.copyFrom(buf, 0, l.handle, 0, l.size);
    }

    static String verify(PageAllocator a, Live l) {
        MemorySegment buf = MemorySegment.ofArray(new long[(int) ((l.size + 7) >>> 3)]);
        a.copyTo(l.handle, 0, buf, 0, l.size);
        for (long off = 0; off + 8 <= l.size; off += 8) {
            long v = buf.get(ValueLayout.JAVA_LONG_UNALIGNED, off);
            if (v != word(l.id, off)) {
                return "allocation " + l.id + " (" + l.size + " bytes) at offset " + off + ": 0x" + Long.toHexString(v)
                        + " expected 0x" + Long.toHexString(word(l.id, off));
            }
        }
        for (long off = l.size & ~7L; off < l.size; off++) {
            if (buf.get(ValueLayout.JAVA_BYTE, off) != (byte) (l.id + off)) {
                return "allocation " + l.id + " tail byte " + off;
            }
        }
        return null;
    }

    static String verifyZero(PageAllocator a, long h, long size) {
        MemorySegment buf = MemorySegment.ofArray(new byte[(int) size]);
        a.copyTo(h, 0, buf, 0, size);
        for (long off = 0; off < size; off++) {
            if (buf.get(ValueLayout.JAVA_BYTE, off) != 0) {
                return "ZERO allocation of " + size + " bytes has byte " + off + " = " + buf.get(ValueLayout.JAVA_BYTE, off);
            }
        }
        return null;
    }

    static void checkStatus(MemoryStatus s) {
        for (NodeStatus n : s.nodes()) {
            for (ZoneStatus z : n.zones()) {
                assertEquals(z.presentPages(), z.freePages() + z.activePages(), z.toString());
                assertTrue(z.cachedPages() <= z.freePages(), z.toString());
                assertTrue(z.purgedPages() <= z.freePages(), z.toString());
            }
        }
    }

    /**
     * Two workers allocate exact runs (and aligned blocks, ZERO ones verified zero), write, verify and free each
     * other's allocations (through their own caches) while a controller compacts, remaps, drains, offlines, plugs
     * and trims, with the agent purging at once and a resident free limit of 0. Every byte must survive, every
     * ZERO allocation must read zero, and the invariants must hold.
     */
    @Test
    void randomInterleavingKeepsBytesAndInvariants() throws Exception {
        runInterleaving(20260101L, LeakDetection.SAMPLED, 4, b -> b);
    }

    @Test
    void randomInterleavingBigPagesBigCaches() throws Exception {
        runInterleaving(4242L, LeakDetection.SAMPLED, 3, b -> b.threadCacheMaxOrder(8));
    }

    @Test
    void randomInterleavingElasticLimit() throws Exception {
        runInterleaving(99L, LeakDetection.DISABLED, 3, b -> b.threadCacheMaxOrder(6).elastic(true)
                .residentFreeLimit(0.5));
    }

    @Test
    void randomInterleavingParanoid() throws Exception {
        runInterleaving(777L, LeakDetection.PARANOID, 3, b -> b);
    }

    void runInterleaving(long seed, LeakDetection level, int seconds,
                         java.util.function.UnaryOperator<PageAllocator.Builder> custom) throws Exception {
        ConcurrentLinkedQueue<Throwable> failures = new ConcurrentLinkedQueue<>();
        AtomicBoolean stop = new AtomicBoolean();
        try (PageAllocator a = custom.apply(PageAllocator.builder().name("revB-" + seed).pageSize(PAGE).maxOrder(8)
                .node(NodeSpec.fixed(16L << 20).movableBytes(8L << 20))
                .node(NodeSpec.hotRemovable(16L << 20))
                .node(NodeSpec.hotRemovable(16L << 20))
                .purgeAfter(Duration.ZERO).residentFreeLimit(0).leakDetection(level))
                .build()) {
            ConcurrentLinkedQueue<Live>[] handoff = new ConcurrentLinkedQueue[] {new ConcurrentLinkedQueue<Live>(),
                    new ConcurrentLinkedQueue<Live>()};
            java.util.concurrent.atomic.AtomicLong ids = new java.util.concurrent.atomic.AtomicLong(1);
            Thread[] workers = new Thread[2];
            for (int w = 0; w < 2; w++) {
                final int me = w;
                workers[w] = new Thread(() -> {
                    SplittableRandom r = new SplittableRandom(seed * 31 + me);
                    List<Live> mine = new ArrayList<>();
                    try {
                        while (!stop.get()) {
                            int op = r.nextInt(100);
                            if (op < 40 && mine.size() < 200) {
                                long size;
                                int k = r.nextInt(4);
                                if (k == 0) {
                                    size = 1 + r.nextInt(16 * PAGE);
                                } else if (k == 1) {
                                    size = (long) (1 + r.nextInt(64)) * PAGE - r.nextInt(8);
                                } else if (k == 2) {
                                    size = 1 + r.nextInt(PAGE);
                                } else {
                                    size = (long) (17 + r.nextInt(200)) * PAGE + r.nextInt(PAGE);
                                }
                                int flags = r.nextInt(5) == 0 ? AllocFlags.NONE : AllocFlags.HOTREMOVABLE;
                                if (r.nextInt(3) == 0) {
                                    flags |= AllocFlags.ZERO;
                                }
                                if (r.nextInt(6) == 0) {
                                    flags |= AllocFlags.ALIGNED;
                                }
                                long h = a.tryAllocate(size, flags, r.nextInt(3));
                                if (h == PageAllocator.NULL_HANDLE) {
                                    continue;
                                }
                                if ((flags & AllocFlags.ZERO) != 0) {
                                    String z = verifyZero(a, h, size);
                                    if (z != null) {
                                        throw new AssertionError(z + " flags " + AllocFlags.toString(flags));
                                    }
                                }
                                Live l = new Live(h, size, ids.getAndIncrement());
                                fill(a, l);
                                mine.add(l);
                            } else if (op < 60 && !mine.isEmpty()) {
                                Live l = mine.remove(r.nextInt(mine.size()));
                                String bad = verify(a, l);
                                if (bad != null) {
                                    throw new AssertionError(bad);
                                }
                                if (r.nextBoolean()) {
                                    a.free(l.handle);
                                } else {
                                    handoff[1 - me].add(l);
                                }
                            } else if (op < 75) {
                                Live l;
                                while ((l = handoff[me].poll()) != null) {
                                    String bad = verify(a, l);
                                    if (bad != null) {
                                        throw new AssertionError("handed off: " + bad);
                                    }
                                    if (r.nextBoolean()) {
                                        a.free(l.handle);
                                    } else {
                                        mine.add(l);
                                    }
                                }
                            } else if (op < 80 && !mine.isEmpty()) {
                                Live l = mine.get(r.nextInt(mine.size()));
                                try (Pin p = r.nextBoolean() ? a.pinLongTerm(l.handle) : a.pin(l.handle)) {
                                    MemorySegment s = p.segment();
                                    assertEquals(l.size, s.byteSize());
                                    long off = (l.size >= 8) ? ((long) r.nextInt((int) (l.size >>> 3))) << 3 : -1;
                                    if (off >= 0 && s.get(ValueLayout.JAVA_LONG_UNALIGNED, off) != word(l.id, off)) {
                                        throw new AssertionError("pinned read of " + l.id + " at " + off);
                                    }
                                } catch (io.hotmem.AllocationFailedException e) {
                                    // no NORMAL room
                                }
                            } else if (!mine.isEmpty()) {
                                Live l = mine.get(r.nextInt(mine.size()));
                                String bad = verify(a, l);
                                if (bad != null) {
                                    throw new AssertionError(bad);
                                }
                            }
                        }
                        for (Live l : mine) {
                            String bad = verify(a, l);
                            if (bad != null) {
                                throw new AssertionError("final: " + bad);
                            }
                            a.free(l.handle);
                        }
                    } catch (Throwable t) {
                        failures.add(t);
                        stop.set(true);
                    }
                }, "revB-worker-" + w);
                workers[w].start();
            }
            SplittableRandom r = new SplittableRandom(seed);
            long end = System.nanoTime() + seconds * 1_000_000_000L;
            try {
                while (System.nanoTime() < end && !stop.get()) {
                    int op = r.nextInt(10);
                    int node = 1 + r.nextInt(2);
                    try {
                        switch (op) {
                            case 0, 1, 2, 3, 4 -> relocate(a, op, node, r);
                            default -> {
                                a.checkInvariants();
                                checkStatus(a.status());
                            }
                        }
                    } catch (IllegalStateException e) {
                        if (e.getMessage() != null && e.getMessage().contains("invariant")) {
                            throw e;
                        }
                    }
                    for (NodeStatus n : a.status().nodes()) {
                        if (n.state() == NodeState.UNPLUGGED) {
                            a.plug(n.id());
                            a.enable(n.id());
                        }
                    }
                }
            } finally {
                stop.set(true);
                for (Thread t : workers) {
                    t.join(20_000);
                }
            }
            if (!failures.isEmpty()) {
                Throwable t = failures.peek();
                throw new AssertionError("seed " + seed + ": " + t, t);
            }
            Live l;
            for (ConcurrentLinkedQueue<Live> q : handoff) {
                while ((l = q.poll()) != null) {
                    String bad = verify(a, l);
                    if (bad != null) {
                        fail(bad);
                    }
                    a.free(l.handle);
                }
            }
            a.trimCaches();
            a.checkInvariants();
            for (NodeStatus n : a.status().nodes()) {
                for (ZoneStatus z : n.zones()) {
                    assertEquals(0, z.activePages(), "after every free: " + z);
                }
            }
        }
    }

    /**
     * One controller step of both tests: 0 compact a random zone, 1 remap one, 2 disable + drain + enable node
     * {@code node} (if ENABLED), 3 offline it and plug + enable it again once it is out, 4 trim the thread caches.
     */
    static void relocate(PageAllocator a, int step, int node, SplittableRandom r) {
        switch (step) {
            case 0 -> a.compact(r.nextInt(4), Duration.ofMillis(50));
            case 1 -> a.remap(r.nextInt(4), Duration.ofMillis(100));
            case 2 -> {
                if (a.status().nodes().get(node).state() == NodeState.ENABLED) {
                    a.disable(node);
                    a.drain(node, Duration.ofMillis(100));
                    a.enable(node);
                }
            }
            case 3 -> {
                if (a.offline(node, Duration.ofMillis(200)).complete()) {
                    a.plug(node);
                    a.enable(node);
                }
            }
            default -> a.trimCaches();
        }
    }

    /** Pages an allocation holds: exactly its size's pages, or the whole block with ALIGNED. */
    static long pagesOf(long size, int flags) {
        long pages = (size + PAGE - 1) / PAGE;
        if ((flags & AllocFlags.ALIGNED) != 0) {
            return Long.highestOneBit(pages - 1) << 1 == 0 ? 1 : Math.max(1, Long.highestOneBit(pages - 1) << 1);
        }
        return pages;
    }

    record LiveF(Live live, int flags) {
    }

    /**
     * Single-threaded (a second thread frees synchronously through its own cache) fixed-seed sequence over the
     * public API; after every step the status must add up exactly: per zone the buddy lists plus the cached pages
     * are the free pages, and the active pages of all zones are the pages the live allocations hold.
     */
    @Test
    void quiescentAccountingMatchesTheLiveAllocations() throws Exception {
        for (long seed = 1; seed <= 2; seed++) {
            quiescent(seed);
        }
    }

    void quiescent(long seed) throws Exception {
        java.util.concurrent.ExecutorService other = java.util.concurrent.Executors.newSingleThreadExecutor();
        try (PageAllocator a = PageAllocator.builder().name("revBq-" + seed).pageSize(PAGE).maxOrder(7)
                .node(NodeSpec.fixed(8L << 20).movableBytes(4L << 20))
                .node(NodeSpec.hotRemovable(8L << 20))
                .node(NodeSpec.hotRemovable(8L << 20))
                .backgroundThread(false).residentFreeLimit(0).threadCacheMaxOrder(5)
                .build()) {
            SplittableRandom r = new SplittableRandom(seed);
            List<LiveF> live = new ArrayList<>();
            long id = 1;
            List<String> log = new ArrayList<>();
            for (int step = 0; step < 400; step++) {
                int op = r.nextInt(100);
                String what;
                if (op < 45) {
                    long size = r.nextBoolean() ? 1 + r.nextInt(20 * PAGE) : 1 + r.nextInt(100 * PAGE);
                    int flags = (r.nextInt(4) == 0 ? 0 : AllocFlags.HOTREMOVABLE) | (r.nextInt(5) == 0 ? AllocFlags.ALIGNED : 0)
                            | (r.nextInt(3) == 0 ? AllocFlags.ZERO : 0);
                    int node = r.nextInt(3);
                    what = "allocate " + size + " " + AllocFlags.toString(flags) + " node " + node;
                    long h = a.tryAllocate(size, flags, node);
                    if (h != PageAllocator.NULL_HANDLE) {
                        if ((flags & AllocFlags.ZERO) != 0) {
                            String z = verifyZero(a, h, size);
                            if (z != null) {
                                fail("seed " + seed + " step " + step + ": " + z);
                            }
                        }
                        Live l = new Live(h, size, id++);
                        fill(a, l);
                        live.add(new LiveF(l, flags));
                    }
                } else if (op < 75 && !live.isEmpty()) {
                    LiveF l = live.remove(r.nextInt(live.size()));
                    boolean there = r.nextBoolean();
                    what = "free " + l.live.size + (there ? " on the other thread" : "");
                    if (there) {
                        other.submit(() -> a.free(l.live.handle)).get();
                    } else {
                        a.free(l.live.handle);
                    }
                } else {
                    int k = r.nextInt(7);
                    int node = 1 + r.nextInt(2);
                    what = "control " + k + " node " + node;
                    try {
                        switch (k) {
                            case 0, 1, 2, 3, 4 -> relocate(a, k, node, r);
                            case 5 -> {
                                if (!live.isEmpty()) {
                                    LiveF l = live.get(r.nextInt(live.size()));
                                    try (Pin p = a.pinLongTerm(l.live.handle)) {
                                        assertEquals(l.live.size, p.segment().byteSize());
                                    } catch (io.hotmem.AllocationFailedException e) {
                                        // no room
                                    }
                                }
                            }
                            default -> other.submit(() -> {
                                long h = a.tryAllocate(3 * PAGE + 5, AllocFlags.HOTREMOVABLE, 1);
                                if (h != 0) {
                                    a.free(h);
                                }
                            }).get();
                        }
                    } catch (IllegalStateException e) {
                        if (String.valueOf(e.getMessage()).contains("invariant")) {
                            throw e;
                        }
                        what += " refused: " + e.getMessage();
                    }
                }
                log.add(what);
                try {
                    a.checkInvariants();
                } catch (IllegalStateException e) {
                    throw new AssertionError("seed " + seed + " step " + step + " after " + what, e);
                }
                long expectActive = 0;
                for (LiveF l : live) {
                    expectActive += pagesOf(l.live.size, l.flags);
                }
                long active = 0;
                for (NodeStatus n : a.status().nodes()) {
                    for (ZoneStatus z : n.zones()) {
                        active += z.activePages();
                        long listed = 0;
                        for (int o = 0; o < z.freeBlocks().size(); o++) {
                            listed += (long) z.freeBlocks().get(o) << o;
                        }
                        assertEquals(z.freePages(), listed + z.cachedPages(), "seed " + seed + " step " + step
                                + " after " + what + ": " + z);
                        assertEquals(z.presentPages(), z.freePages() + z.activePages());
                    }
                }
                assertEquals(expectActive, active, "seed " + seed + " step " + step + " after " + what
                        + "; live " + live.size() + "; last " + log.subList(Math.max(0, log.size() - 5), log.size()));
                if (step % 50 == 0 || what.startsWith("control")) {
                    for (LiveF l : live) {
                        String bad = verify(a, l.live);
                        if (bad != null) {
                            fail("seed " + seed + " step " + step + " after " + what + ": " + bad);
                        }
                    }
                }
            }
        } finally {
            other.shutdownNow();
        }
    }
}

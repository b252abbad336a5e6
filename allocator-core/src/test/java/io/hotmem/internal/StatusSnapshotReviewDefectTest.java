package io.hotmem.internal;

import io.hotmem.MemoryStatus;
import io.hotmem.NodeSpec;
import io.hotmem.NodeState;
import io.hotmem.PageAllocator;
import io.hotmem.ZoneStatus;
import org.junit.jupiter.api.Test;

import java.lang.reflect.Field;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An adversarial review of status() (2026-12-02): with the thread caches' share of each zone sampled before the
 * node's zone locks (679429a, reverted), a trim or disable that ran between the sample and the locks made a snapshot
 * report live pages as cached and free, and a disabled node with cached pages. The share is read under the locks.
 *
 * <p>The interleaving is forced by holding the zone's lock on the test thread: status() takes its sample, then
 * waits for the lock; meanwhile a whole {@code trimCaches()} (or disable) runs to its end. That is exactly "the
 * trim ran between the sample and the lock", which nothing in the code prevents; with the sample read under the
 * zone locks (before 679429a) the trim's spill, which needs the zone lock, is either wholly before or wholly after
 * the counters and the cache counts that status() reads.
 */
class StatusSnapshotReviewDefectTest {

    private static Zone zone0(PageAllocator a) throws Exception {
        Field f = DefaultPageAllocator.class.getDeclaredField("ctx");
        f.setAccessible(true);
        AllocatorContext ctx = (AllocatorContext) f.get(a);
        return ctx.topology.zones[0];
    }

    /** Fills another (then idle) thread's cache with {@code blocks} one-page blocks of node 0; @return the thread */
    private static Thread idleCacheOwner(PageAllocator a, int blocks, CountDownLatch release) throws Exception {
        CountDownLatch filled = new CountDownLatch(1);
        Thread owner = new Thread(() -> {
            long[] hs = new long[blocks];
            for (int i = 0; i < blocks; i++) {
                hs[i] = a.allocate(4096, 0, 0);
            }
            for (long h : hs) {
                a.free(h);
            }
            filled.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "idle-cache-owner");
        owner.setDaemon(true);
        owner.start();
        assertTrue(filled.await(10, TimeUnit.SECONDS));
        return owner;
    }

    /**
     * Runs {@code between} to its end on this thread while it holds {@code z}'s lock and a status() on another
     * thread has begun and waits for that lock.
     *
     * @return that status()
     */
    private static MemoryStatus statusWaitingWhile(PageAllocator a, Zone z, Runnable between) throws Exception {
        AtomicReference<Object> out = new AtomicReference<>();
        Thread s = new Thread(() -> {
            try {
                out.set(a.status());
            } catch (Throwable e) {
                out.set(e);
            }
        }, "status-taker");
        s.setDaemon(true);
        z.lock.lock();
        try {
            s.start();
            awaitQueued(z); // status() began and waits for the lock
            between.run();
        } finally {
            z.lock.unlock();
        }
        s.join(10_000);
        if (out.get() instanceof Throwable t) {
            throw new AssertionError(t);
        }
        return (MemoryStatus) out.get();
    }

    private static void awaitQueued(Zone z) throws InterruptedException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (!z.lock.hasQueuedThreads()) {
            assertTrue(System.nanoTime() < deadline, "status() never waited for the zone lock");
            Thread.sleep(1);
        }
    }

    /**
     * ZoneStatus: activePages are "pages in allocated blocks", read "together under the zone's lock"; only the cached
     * count is a sample, approximate "while [the owners] allocate". Here no thread allocates while status() runs:
     * the one cache owner is idle, and trimCaches() gives its pages back. The snapshot should read the zone as it is
     * once the trim is done (256 live pages, nothing cached) or as it was before (256 live, X cached). Seen: the
     * sample from before the trim subtracted from the counters after it: cached X although every cache is empty,
     * and activePages 256 - X although 256 pages are live (and free over-reported by X).
     */
    @Test
    void statusAfterATrimBetweenItsSampleAndItsLocksUnderReportsLivePages() throws Exception {
        try (PageAllocator a = PageAllocator.builder().name("revD-status-trim").pageSize(4096).maxOrder(10)
                .backgroundThread(false).jmx(false)
                .node(NodeSpec.fixed(4L << 20)) // Normal[0] only
                .build()) {
            long live = a.allocate(1L << 20, 0, 0); // 256 pages, above the cached sizes
            CountDownLatch release = new CountDownLatch(1);
            Thread owner = idleCacheOwner(a, 32, release);
            try {
                ZoneStatus before = a.status().zone(0);
                long cached = before.cachedPages();
                assertTrue(cached > 0, "precondition: the idle thread caches pages (" + before + ")");
                assertEquals(256, before.activePages(), "precondition: " + before);

                ZoneStatus seen = statusWaitingWhile(a, zone0(a),
                        () -> assertEquals(cached, a.trimCaches())).zone(0); // the whole trim, done
                ZoneStatus now = a.status().zone(0);
                assertEquals(0, now.cachedPages(), "after the trim: " + now);
                assertEquals(256, now.activePages(), "after the trim: " + now);
                assertTrue(seen.activePages() >= 256,
                        "status() reports " + seen.activePages() + " active pages while 256 are live in one "
                                + "allocation and no thread allocated meanwhile: " + seen + " (now " + now + ")");
                assertTrue(seen.cachedPages() == 0 || seen.cachedPages() == cached && seen.activePages() == 256,
                        "neither the state before the trim nor after it: " + seen);
            } finally {
                release.countDown();
                owner.join(10_000);
                a.free(live);
            }
        }
    }

    /**
     * Invariant 3 (StatusView, checkInvariants): once a zone stopped accepting blocks and the reclaim that follows
     * ended, no thread cache holds a block of it. A status() whose locks are taken after disable(1) returned (the
     * node is read DISABLED, its caches reclaimed) still shows the thread caches' pages of its zone from its
     * sample before the disable.
     */
    @Test
    void aDisabledNodeInStatusShowsNoCachedPages() throws Exception {
        try (PageAllocator a = PageAllocator.builder().name("revD-status-disable").pageSize(4096).maxOrder(10)
                .backgroundThread(false).jmx(false)
                .node(NodeSpec.fixed(4L << 20))   // node 0: Normal[0]
                .node(NodeSpec.fixed(4L << 20))   // node 1
                .build()) {
            long live = a.allocate(1L << 20, 0, 0); // node 0, zone 0
            assertEquals(0, a.nodeOf(live));
            CountDownLatch release = new CountDownLatch(1);
            Thread owner = idleCacheOwner(a, 32, release);
            try {
                long cached = a.status().zone(0).cachedPages();
                assertTrue(cached > 0, "precondition");
                // The disable writes the state under all node 0's zone locks (reentrant here), then reclaims.
                MemoryStatus seen = statusWaitingWhile(a, zone0(a), () -> a.disable(0));
                a.checkInvariants();
                assertEquals(NodeState.DISABLED, seen.node(0).state(), "the snapshot was taken after the disable");
                assertEquals(0, a.status().zone(0).cachedPages(), "no cache holds node 0's blocks now");
                assertEquals(0, seen.zone(0).cachedPages(),
                        "a DISABLED node whose caches were reclaimed, shown with thread-cached pages: " + seen.zone(0));
            } finally {
                release.countDown();
                owner.join(10_000);
            }
        }
    }
}

package io.hotmem.internal;

import io.hotmem.LeakDetection;
import io.hotmem.LeakReport;
import io.hotmem.internal.jfr.LeakEvent;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.ref.Cleaner;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Leak detection ({@link LeakDetection}): which allocations and pins are tracked, where they were made, the
 * leaked pins the {@link Cleaner} finds, and at PARANOID the scopes of the segments handed to users.
 *
 * <p><b>Tracking an allocation.</b> The decision ({@link #sample}) and the site (a {@link Throwable}: capturing it
 * costs about 1.5 us; its frames become text only when a report needs them) come before the allocation; the
 * entry's flags word carries {@link HandleLayout#FLAG_TRACKED} from the allocation's publication. The record is put
 * after the handle is published ({@link #track}); a free that races the allocation (only a guessed handle can: the
 * caller has not seen it yet) may come first, so {@code track} checks the handle is still live after the put. A
 * record counts while its handle is live and its entry carries the flag ({@link HandleTable#isLiveTracked}: after
 * the slot's generation wrapped, the same handle can name a later, untracked allocation; a later tracked one has
 * put its own record over the old one).
 *
 * <p><b>Removing a record.</b> At PARANOID only the free does ({@link #untrack}, on the free's out-of-line path
 * {@code Allocation#freeParanoid}): a report that removed the record of a handle being freed would leave the free
 * nothing to close, and a racing {@code segment(h)} a scope nobody closes. At SAMPLED, where there are no scopes,
 * a free leaves its record, so that the free's fast path is the same at SAMPLED as at DISABLED (a branch on the
 * flag there, taken once in 4,096 frees, cost allocate + free about 5%: C2 compiles the call it leads to, where
 * at DISABLED it is an uncommon trap). The records that no longer count are swept ({@link #sweep}) by the agent
 * every round (a freed record holds its site, whose backtrace keeps the classes of its frames loaded: a class
 * loader whose code freed everything it allocated goes at the agent's next round), by a report and by close, and
 * by {@link #track} when the map has doubled since the last sweep (amortised: a constant per tracked allocation;
 * without the agent, the only sweep between reports). So the map holds at most twice the records left by the last
 * sweep, and at least {@value #SWEEP_MIN}, before the next one.
 *
 * <p><b>Tracking a pin.</b> A {@link PinState}, registered with the cleaner against a {@link PinToken} that only
 * the {@link PinImpl} holds; the state holds no reference to either, so the pin can become unreachable. {@link PinState#close} (the pin's close) marks it
 * closed and deregisters it; the cleaner running for a state still open is the leak: reported once (log line, JFR
 * event, {@link #report}), and kept among the open states, since its block stays pinned, for the sites of
 * stragglers ({@link #pinSites}).
 *
 * <p><b>PARANOID scopes.</b> {@link #scoped(PinState, MemorySegment)} and {@link #scoped(long, MemorySegment)}
 * reinterpret a user segment with a shared arena of the pin's or the allocation's own, which the pin's close or the
 * allocation's free closes before the block can move or be reused: a late use throws and touches nothing (the
 * arena's close is a handshake with every thread, so no access is half way). {@link #close} closes every such
 * arena before the allocator's range is unmapped; an arena created after it starts is refused. Limit: an arena
 * held by an operation (blocking I/O on a segment) cannot close; the pin's close or the free then throws and
 * changes nothing, except for a {@code segment(h)} call that races the free of the same handle and starts such an
 * operation between the free's two closes (see {@code Allocation#freeParanoid}): that free goes through, but its
 * block is given back only once the scope closes ({@link StuckScopes}), and close keeps the range mapped while it
 * stays held.
 *
 * <p><b>Which are tracked.</b> An allocation in {@link LeakDetection#SAMPLING_INTERVAL} at SAMPLED (every one at
 * PARANOID): through a thread cache when its owner's countdown ({@link ThreadCache#leakCountdown}, reset to a random
 * count by {@link #countdown}) runs out, otherwise by a random number ({@link #sample}). A pin is tracked when its
 * allocation is (as Netty records the touches of the buffers it tracks): the pin path reads the entry's flags
 * word, in the cache line it has just written, and nothing else. The fast paths of DISABLED and SAMPLED are the
 * same: a countdown on allocation, a flag test on pin.
 */
final class LeakDetector {
    private static final int MASK = LeakDetection.SAMPLING_INTERVAL - 1;
    /** Tracked allocations whose sites close logs, at most. */
    private static final int CLOSE_RECORDS = 10_000;
    /** Frames of the caller kept per site. */
    private static final int SITE_FRAMES = 8;
    private static final int DISABLED = 0;
    private static final int SAMPLED = 1;
    private static final int PARANOID = 2;

    final LeakDetection level;
    final boolean paranoid;
    private final int mode;
    private final String name;
    /** Tracked live allocations by handle. */
    private final ConcurrentHashMap<Long, TrackedAllocation> allocations = new ConcurrentHashMap<>();
    /**
     * Freed allocations whose scope an operation held when the free tried to close it, and each record a PARANOID
     * free is moving out of {@link #allocations} while the move lasts (see {@link #untrack}).
     */
    private final StuckScopes stuckScopes;
    /** Tracked pins not closed (leaked ones included: their blocks stay pinned). */
    private final Set<PinState> openPins = ConcurrentHashMap.newKeySet();
    /**
     * What closes each scope that {@link #close} could not close (an operation held a segment of it), for
     * {@link #closeScopesLeftOpen}; touched only by close and its late release, under the control lock.
     */
    private final List<Runnable> scopesLeftOpen = new ArrayList<>();
    /** Leaked pins by site. */
    private final ConcurrentHashMap<String, Tally> leakedPins = new ConcurrentHashMap<>();
    private final AtomicLong leakedPinCount = new AtomicLong();
    /** The text of every site reported so far, one copy each (records share it). */
    private final ConcurrentHashMap<String, String> siteTexts = new ConcurrentHashMap<>();
    /** Set by {@link #close}: no scope is created after it. */
    private volatile boolean closed;
    /** Records below which {@link #track} does not sweep (SAMPLED). */
    private static final int SWEEP_MIN = 1024;
    /** The record count at which {@link #track} sweeps next (SAMPLED): twice the count after the last sweep. */
    private volatile int sweepAt = SWEEP_MIN;
    /** Held by the thread sweeping; {@link #track} does not wait for it (another thread is doing the work). */
    private final ReentrantLock sweepLock = new ReentrantLock();

    LeakDetector(String name, LeakDetection level) {
        this.name = name;
        this.level = level;
        this.mode = switch (level) {
            case DISABLED -> DISABLED;
            case SAMPLED -> SAMPLED;
            case PARANOID -> PARANOID;
        };
        this.paranoid = level == LeakDetection.PARANOID;
        this.stuckScopes = new StuckScopes(name, () -> closed);
    }

    /** @return whether the allocation being made, by a thread without a cache, is tracked */
    boolean sample() {
        int m = mode;
        return m != DISABLED && (m == PARANOID || (ThreadLocalRandom.current().nextInt() & MASK) == 0);
    }

    /**
     * @return how many allocations a thread cache makes until the next tracked one: 1 at PARANOID, a random count
     *         from 1 to twice the sampling interval at SAMPLED (a fixed stride could fall in step with a program's
     *         own pattern), and never at DISABLED
     */
    int countdown() {
        return switch (mode) {
            case PARANOID -> 1;
            case SAMPLED -> 1 + ThreadLocalRandom.current().nextInt(2 * LeakDetection.SAMPLING_INTERVAL);
            default -> Integer.MAX_VALUE;
        };
    }

    /** @return whether anything is tracked */
    boolean on() {
        return mode != DISABLED;
    }

    /** @return the site of the call being made, to pass to {@link #track} */
    static Throwable site() {
        return new Throwable("made here");
    }

    // ------------------------------------------------------------------------------------------------ allocations

    /**
     * Records a tracked allocation, after its publication. A free that raced it (see the class comment) may have
     * come first and found no record to remove: the record goes again if the handle is no longer live.
     */
    void track(long handle, long bytes, Throwable site, HandleTable table) {
        TrackedAllocation t = new TrackedAllocation(bytes, System.nanoTime(), site);
        allocations.put(handle, t);
        if (!table.isLive(handle)) {
            allocations.remove(handle, t);
        }
        if (mode == SAMPLED && allocations.size() >= sweepAt && sweepLock.tryLock()) {
            try {
                sweepLocked(table);
            } finally {
                sweepLock.unlock();
            }
        }
    }

    /**
     * SAMPLED: removes the records that no longer count (their allocation was freed: see the class comment), and
     * sets the next sweep of {@link #track} at twice the records left. The agent calls it every round, and a report
     * and close before they read the records; one thread at a time (a caller waits for a sweep in progress, so that
     * what it reads next is swept).
     */
    void sweep(HandleTable table) {
        if (mode != SAMPLED) {
            return;
        }
        sweepLock.lock();
        try {
            sweepLocked(table);
        } finally {
            sweepLock.unlock();
        }
    }

    /** A record put meanwhile is kept if it counts; a record is removed only if it is still the one looked at. */
    private void sweepLocked(HandleTable table) {
        allocations.forEach((h, t) -> {
            if (!table.isLiveTracked(h)) {
                allocations.remove(h, t);
            }
        });
        sweepAt = (int) Math.min(Integer.MAX_VALUE, Math.max(SWEEP_MIN, 2L * allocations.size()));
    }

    /** @return the records held (tracked live allocations, and at SAMPLED freed ones not swept yet) */
    int records() {
        return allocations.size();
    }

    /**
     * Before the free of {@code handle} (PARANOID): closes the scope of its {@code segment(h)} segments, so that
     * a scope that an operation holds fails the free before it changes anything.
     *
     * @throws IllegalStateException if an operation (blocking I/O) holds a segment of the allocation
     */
    void beforeFree(long handle) {
        TrackedAllocation t = allocations.get(handle);
        if (t != null) {
            t.closeScope(handle);
        }
    }

    /**
     * PARANOID: after the free of a tracked {@code handle} made the slot the caller's, before its block is given
     * back: the record goes, and a scope created since {@link #beforeFree} is closed. If an operation (blocking
     * I/O) holds that scope, the block must not be given back yet (the operation may still read or write it):
     * {@code giveBack} is kept and run once the scope closes ({@link StuckScopes}), on another thread.
     *
     * @param deferred run when the give-back is deferred, before anything can run it (under the record's monitor)
     * @param giveBack gives the freed block and slot back
     * @return whether the caller may give the block back now (false: {@code giveBack} runs later, or never if the
     *         allocator closes first, its memory going whole)
     */
    boolean untrack(long handle, Runnable deferred, Runnable giveBack) {
        TrackedAllocation t = allocations.get(handle);
        if (t == null) {
            return true;
        }
        // Into stuckScopes before out of allocations: close scans allocations, then stuckScopes, so it meets the
        // record in one of them whenever it runs (if it moved from one to the other in between, a close scanning
        // both meanwhile would miss it and unmap the range under the I/O that holds its scope).
        stuckScopes.enter(t, handle);
        allocations.remove(handle, t);
        IllegalStateException held = null;
        synchronized (t) { // the attempt and the deferred give-back as one, against StuckScopes' retry
            t.freed = true;
            try {
                t.closeScope(handle);
            } catch (IllegalStateException e) {
                held = e;
                deferred.run();
                t.afterScopeClosed = giveBack;
            }
        }
        if (held == null) {
            stuckScopes.leave(t);
            return true;
        }
        stuckScopes.retryLater(); // first: the log below may throw
        try {
            Telemetry.LOG.log(System.Logger.Level.WARNING, name + ": handle 0x" + Long.toHexString(handle)
                    + " was freed while an operation (blocking I/O) started on its segment; its block is given back "
                    + "once that operation ends", held);
        } catch (RuntimeException | Error e) {
            // A log handler that throws must not fail a free that is done (its block is given back later).
        }
        return false;
    }

    /**
     * PARANOID: {@code segment}, a user segment of the live non-movable {@code handle}, scoped by the allocation.
     *
     * @return the scoped segment, or null when the handle is not tracked (freed, or never live)
     */
    MemorySegment scoped(long handle, MemorySegment segment) {
        TrackedAllocation t = allocations.get(handle);
        if (t == null) {
            return null;
        }
        synchronized (t) {
            if (t.freed) {
                return null;
            }
            if (t.scope == null) {
                t.scope = newScope();
            }
            return segment.reinterpret(t.scope, null);
        }
    }

    /** @return the records of frees whose scope an operation holds (or that are closing it now) */
    int stuckScopes() {
        return stuckScopes.size();
    }

    // ------------------------------------------------------------------------------------------------ pins

    /**
     * Starts tracking a pin of {@code handle}: its state is open and registered with the cleaner against a new
     * token before the token is returned, for the pin to hold (and be published with).
     */
    PinToken trackPin(long handle, long bytes) {
        PinState s = new PinState(handle, bytes, site());
        openPins.add(s);
        PinToken t = new PinToken(s);
        try {
            s.cleanable = CleanerHolder.CLEANER.register(t, s);
        } catch (RuntimeException | Error e) {
            openPins.remove(s);
            throw e;
        }
        return t;
    }

    /**
     * PARANOID: {@code segment}, the user segment of an open pin, scoped by the pin.
     *
     * @throws IllegalStateException if the pin is closed
     */
    MemorySegment scoped(PinState pin, MemorySegment segment) {
        synchronized (pin) {
            if (closed) {
                throw closedAllocator();
            }
            if (pin.closed) {
                throw new IllegalStateException("pin of handle 0x" + Long.toHexString(pin.handle) + " is closed");
            }
            if (pin.scope == null) {
                pin.scope = newScope();
            }
            return segment.reinterpret(pin.scope, null);
        }
    }

    /**
     * @return the site of an open tracked pin of each handle that has one (the oldest pin's), for stragglers;
     *         empty when no pin is tracked
     */
    Map<Long, String> pinSites() {
        if (openPins.isEmpty()) {
            return Map.of();
        }
        Map<Long, PinState> oldest = new HashMap<>();
        for (PinState s : openPins) {
            oldest.merge(s.handle, s, (a, b) -> a.takenNanos <= b.takenNanos ? a : b);
        }
        Map<Long, String> out = new HashMap<>();
        oldest.forEach((h, s) -> out.put(h, s.stack()));
        return out;
    }

    private void leaked(PinState s) {
        if (closed) {
            return; // a pin taken while the allocator closed: close deregistered what it saw; nothing is left
        }
        String stack = s.stack();
        long now = System.nanoTime();
        leakedPins.merge(stack, new Tally(1, s.bytes, s.takenNanos), Tally::plus);
        leakedPinCount.incrementAndGet();
        Telemetry.LOG.log(System.Logger.Level.WARNING, name + ": a pin of handle 0x" + Long.toHexString(s.handle)
                + " (" + s.bytes + " bytes) became unreachable without close(); its block stays pinned. Taken "
                + (now - s.takenNanos) / 1_000_000 + " ms ago:\n" + indent(stack));
        LeakEvent.emit(name, "leaked pin", s.handle, s.bytes, stack);
    }

    /** @return the pins found leaked so far */
    long leakedPinCount() {
        return leakedPinCount.get();
    }

    // ------------------------------------------------------------------------------------------------ report

    /**
     * @param table the allocator's table: records of handles no longer live (being freed) are left out
     * @return the tracked live allocations and the leaked pins, by site, largest bytes first
     */
    LeakReport report(HandleTable table) {
        sweep(table); // SAMPLED: freed records go first (they hold their sites' classes)
        return report(table, Integer.MAX_VALUE);
    }

    /**
     * {@link #report(HandleTable)} of at most {@code maxRecords} tracked allocations (a bounded close), without the
     * sweep: the caller swept.
     */
    private LeakReport report(HandleTable table, int maxRecords) {
        Map<String, Tally> live = new HashMap<>();
        int seen = 0;
        for (Map.Entry<Long, TrackedAllocation> e : allocations.entrySet()) {
            if (seen++ == maxRecords) {
                break;
            }
            long h = e.getKey();
            TrackedAllocation t = e.getValue();
            if (!table.isLiveTracked(h)) {
                // Freed meanwhile (SAMPLED: the next sweep removes it), or at PARANOID being freed: its free removes
                // the record (a report must not, see untrack).
                continue;
            }
            live.merge(t.stack(this), new Tally(1, t.bytes, t.madeNanos), Tally::plus);
        }
        long now = System.nanoTime();
        return new LeakReport(level, sites(live, now), sites(leakedPins, now));
    }

    private static List<LeakReport.Site> sites(Map<String, Tally> by, long now) {
        List<LeakReport.Site> out = new ArrayList<>(by.size());
        by.forEach((stack, t) -> out.add(new LeakReport.Site(stack, t.count, t.bytes,
                Duration.ofNanos(Math.max(0, now - t.oldestNanos)))));
        out.sort(Comparator.comparingLong(LeakReport.Site::bytes).reversed()
                .thenComparing(Comparator.comparingLong(LeakReport.Site::count).reversed()));
        return out;
    }

    /**
     * Close of the allocator, before its range is unmapped: closes every scope and deregisters every open pin (a
     * closed allocator keeps nothing in the cleaner), then logs the allocations still live (all of them, counted
     * from the table, and the tracked ones by site) and the tracked pins that were still open.
     *
     * @return false if a scope could not be closed (an operation holds a segment): the range must stay mapped until
     *         {@link #closeScopesLeftOpen} says they are all closed
     */
    boolean close(HandleTable table) {
        closed = true;
        // The scopes first, whatever the logging below does: the range is unmapped after this.
        int open = 0;
        for (PinState s : openPins) {
            if (!s.leaked) {
                open++;
            }
            scopesLeftOpen.add(s::close);
        }
        // allocations before stuckScopes: the order untrack's move relies on.
        allocations.forEach((handle, t) -> scopesLeftOpen.add(() -> t.closeScope(handle)));
        stuckScopes.forEach((t, handle) -> scopesLeftOpen.add(() -> t.closeScope(handle)));
        boolean allClosed = closeScopesLeftOpen();
        sweep(table); // SAMPLED: the count close logs is of records that count
        try {
            logAtClose(table, open);
        } catch (RuntimeException | Error e) {
            // A log handler that throws must not make close fail half way; the scopes are closed already.
        }
        return allClosed;
    }

    /**
     * Closes the scopes that {@link #close} left open because an operation (blocking I/O) held one of their
     * segments, as far as it can now: close itself, then close's late release ({@link LateRelease}) until it
     * succeeds. Called under the allocator's control lock, as close is.
     *
     * @return whether none is left open
     */
    boolean closeScopesLeftOpen() {
        scopesLeftOpen.removeIf(closeIt -> {
            try {
                closeIt.run();
                return true;
            } catch (IllegalStateException e) {
                return false; // still inside the operation
            }
        });
        return scopesLeftOpen.isEmpty();
    }

    private void logAtClose(HandleTable table, int openPinCount) {
        long[] live = table.liveAllocations();
        if (live[0] > 0) {
            StringBuilder sb = new StringBuilder(name).append(": closed with ").append(live[0])
                    .append(live[0] == 1 ? " allocation" : " allocations").append(" (").append(live[1])
                    .append(" bytes) not freed");
            if (mode != DISABLED) {
                // Bounded: close holds the control lock, and a site costs a stack's text (about 30 us).
                List<LeakReport.Site> sites = report(table, CLOSE_RECORDS).liveAllocations();
                if (sites.isEmpty()) {
                    sb.append("; none was tracked");
                } else {
                    sb.append("; tracked ").append(mode == SAMPLED ? "(1 in " + LeakDetection.SAMPLING_INTERVAL
                            + ") " : "").append(allocations.size() > CLOSE_RECORDS ? "(the first " + CLOSE_RECORDS
                            + " of " + allocations.size() + ") " : "").append("by site:");
                    for (int i = 0; i < Math.min(5, sites.size()); i++) {
                        LeakReport.Site s = sites.get(i);
                        sb.append("\n  ").append(s.count()).append(" (").append(s.bytes()).append(" bytes) at\n")
                                .append(indent(s.stack()));
                        LeakEvent.emit(name, "live at close", 0, s.bytes(), s.stack());
                    }
                    if (sites.size() > 5) {
                        sb.append("\n  and ").append(sites.size() - 5).append(" more sites");
                    }
                }
            }
            Telemetry.LOG.log(System.Logger.Level.WARNING, sb.toString());
        }
        if (openPinCount > 0) {
            Telemetry.LOG.log(System.Logger.Level.WARNING, name + ": closed with " + openPinCount + " tracked pin"
                    + (openPinCount == 1 ? "" : "s") + " still open");
        }
    }

    private Arena newScope() {
        if (closed) {
            throw closedAllocator();
        }
        return Arena.ofShared();
    }

    /**
     * Closes a PARANOID scope (a handshake with every thread: no access to its segments is half way after it).
     *
     * @throws IllegalStateException naming {@code whose} and {@code outcome} if an operation (blocking I/O) holds
     *                               one of its segments: the scope stays open
     */
    private static void closeScope(Arena scope, String whose, String outcome) {
        try {
            scope.close();
        } catch (IllegalStateException e) {
            throw new IllegalStateException(whose + " is inside an operation (blocking I/O): " + outcome, e);
        }
    }

    private IllegalStateException closedAllocator() {
        return new IllegalStateException("allocator '" + name + "' is closed");
    }

    // ------------------------------------------------------------------------------------------------ sites

    /**
     * @return the frames of {@code site} from the first one outside hotmem's engine, at most {@value SITE_FRAMES},
     *         one {@code at ...} line each
     */
    static String stackOf(Throwable site) {
        StackTraceElement[] frames = site.getStackTrace();
        int from = 0;
        while (from < frames.length && frames[from].getClassName().startsWith("io.hotmem.internal.")) {
            from++;
        }
        StringBuilder sb = new StringBuilder();
        for (int i = from; i < Math.min(frames.length, from + SITE_FRAMES); i++) {
            if (!sb.isEmpty()) {
                sb.append('\n');
            }
            sb.append("at ").append(frames[i]);
        }
        return sb.isEmpty() ? "at (unknown)" : sb.toString();
    }

    /** @return the one shared copy of {@code stack} */
    private String intern(String stack) {
        String prior = siteTexts.putIfAbsent(stack, stack);
        return prior != null ? prior : stack;
    }

    private static String indent(String stack) {
        return "\t" + stack.replace("\n", "\n\t");
    }

    // ------------------------------------------------------------------------------------------------ records

    /** Count, bytes and the oldest time of a site's calls. */
    private record Tally(long count, long bytes, long oldestNanos) {
        Tally plus(Tally o) {
            return new Tally(count + o.count, bytes + o.bytes, Math.min(oldestNanos, o.oldestNanos));
        }
    }

    /**
     * A tracked allocation; {@link #scope} and {@link #freed} are guarded by its monitor. Its site is a
     * {@link Throwable} (its backtrace: about 20 bytes per frame of the caller's stack) until a report needs the
     * text; then the text, shared by every record of the site ({@link #intern}), replaces it.
     */
    static final class TrackedAllocation {
        final long bytes;
        final long madeNanos;
        private Throwable site;
        private String stack;
        Arena scope;
        boolean freed;
        /** The free's give-back, kept while an operation holds {@link #scope} (see {@link #untrack}). */
        Runnable afterScopeClosed;

        TrackedAllocation(long bytes, long madeNanos, Throwable site) {
            this.bytes = bytes;
            this.madeNanos = madeNanos;
            this.site = site;
        }

        synchronized String stack(LeakDetector d) {
            if (stack == null) {
                stack = d.intern(stackOf(site));
                site = null;
            }
            return stack;
        }

        /** Closes the scope of the allocation's segments, if any; a later segment gets a new one. */
        synchronized void closeScope(long handle) {
            if (scope != null) {
                LeakDetector.closeScope(scope, "a segment of handle 0x" + Long.toHexString(handle),
                        "it cannot be freed now");
                scope = null;
            }
        }
    }

    /**
     * What a tracked {@link PinImpl} holds and nothing else does: the object the cleaner watches. A pin that its
     * caller closes need not escape (it may be scalar-replaced), so the cleaner cannot watch the pin itself; the
     * token is reachable exactly as long as the pin is, and {@link PinImpl#close} reads it, so it stays reachable
     * until the pin is closed.
     */
    static final class PinToken {
        final PinState state;

        PinToken(PinState state) {
            this.state = state;
        }
    }

    /**
     * A tracked pin: the cleaner's action for its {@link PinToken}, which it must not reference. {@link #closed},
     * {@link #leaked} and {@link #scope} are guarded by its monitor.
     */
    final class PinState implements Runnable {
        final long handle;
        final long bytes;
        /** The site until {@link #stack()} turns it into text (as for {@link TrackedAllocation}). */
        private Throwable site;
        private String stack;
        final long takenNanos = System.nanoTime();
        /** Set by {@link #trackPin}, before the pin is handed out. */
        Cleaner.Cleanable cleanable;
        boolean closed;
        boolean leaked;
        Arena scope;

        PinState(long handle, long bytes, Throwable site) {
            this.handle = handle;
            this.bytes = bytes;
            this.site = site;
        }

        synchronized String stack() {
            if (stack == null) {
                stack = intern(stackOf(site));
                site = null;
            }
            return stack;
        }

        /**
         * The pin's close (and the allocator's): closes its scope, then deregisters.
         *
         * @throws IllegalStateException if an operation (blocking I/O) holds the pin's segment: the pin stays open
         */
        void close() {
            synchronized (this) {
                if (scope != null) {
                    closeScope(scope, "the segment of the pin of handle 0x" + Long.toHexString(handle),
                            "the pin stays open");
                    scope = null;
                }
                closed = true;
            }
            openPins.remove(this);
            Cleaner.Cleanable c = cleanable;
            if (c != null) {
                c.clean(); // runs run() here, which finds the pin closed
            }
        }

        /** The cleaner's action: the pin is unreachable; if it was never closed, it leaked. */
        @Override
        public void run() {
            synchronized (this) {
                if (closed || leaked) {
                    return;
                }
                leaked = true;
            }
            leaked(this);
        }
    }

    /** One cleaner thread for every allocator, started by the first tracked pin. */
    private static final class CleanerHolder {
        static final Cleaner CLEANER = Cleaner.create(r -> {
            Thread t = new Thread(r, "hotmem-leak-cleaner");
            t.setDaemon(true);
            return t;
        });
    }
}

package io.hotmem.internal;

import io.hotmem.StaleHandleException;

import java.lang.invoke.VarHandle;

import static io.hotmem.internal.HandleLayout.FREE;
import static io.hotmem.internal.HandleLayout.MOVING;
import static io.hotmem.internal.HandleLayout.PINS_MASK;
import static io.hotmem.internal.HandleLayout.VALIDATE_MASK;

/**
 * The handle protocol, whole: every transition of an entry's state word (layout in {@link HandleLayout}), on both
 * sides, and the rule that an allocation is complete before its handle is published. Callers: {@link Allocation}
 * (publish, free), {@link Access} (optimistic read, pin), {@link Relocator} (freeze, publish a move, unfreeze),
 * {@link ThreadCache} (publish of a cached slot).
 *
 * <h2>States and transitions</h2>
 * <pre>
 *            publish (release store)                         pin (CAS, pins+1)
 *   FREE(g) ------------------------&gt; LIVE(g, v, pins 0) &lt;=========================&gt; LIVE(g, v, pins n)
 *      ^                                  |        ^      unpin (get-and-add -1; a Pin's: CAS)
 *      |  free (CAS; needs pins 0,        |        |
 *      |  not MOVING)                     |        | publishMove (release store: v+1, MOVING clear)
 *      +---------- FREE(g+1) &lt;------------+        | or unfreeze (release store: unchanged)
 *                                         |        |
 *                                         +-&gt; MOVING(g, v) (freeze: CAS from pins 0)
 * </pre>
 *
 * <h2>Assumptions</h2>
 * <ul>
 *   <li>An entry's location, size and flags are written only (a) while it is FREE and owned by one thread (the
 *       allocating thread, or a thread cache holding the slot), before the release store of {@link #publish}; or
 *       (b) the location only, by the mover that set MOVING, before the release store of {@link #publishMove}.</li>
 *   <li>A block's memory is written by its allocator (zeroing) only before {@link #publish}, and afterwards only
 *       under a pin or by the mover while MOVING.</li>
 *   <li>Every block lives in the allocator's one address range, which stays mapped until close (a shared
 *       arena's close: a late access throws, never faults); a node is unplugged only when no block of it is live
 *       (or at close), and unplugging only gives its pages back, so a late optimistic read of an old copy reads
 *       zeros and fails validation.</li>
 * </ul>
 *
 * <h2>Guarantees</h2>
 * <ul>
 *   <li><b>Publication</b>: whoever reads a live state with acquire (every accessor does) sees the location,
 *       size, flags and the block's contents (zeroing included) as they were when the state was stored.</li>
 *   <li><b>Optimistic read</b> ({@link #beginRead}, then {@link #validate}; wait-free while no move of the block
 *       completes): the value read between the two is from the allocation the handle names, at a version no
 *       move changed in between; pins and MOVING do not fail it (a frozen copy does not change).</li>
 *   <li><b>Pin</b> ({@link #pin}; lock-free, waits only while this block's copy runs): the location is stable and
 *       no move or free can start until {@link #unpin}.</li>
 *   <li><b>Move</b> ({@link #freeze}, copy, {@link #publishMove}): starts only from pins == 0 and the generation
 *       the mover inspected; every write made under a pin happens-before the copy; readers that overlap the move
 *       either read the frozen old copy (valid: unchanged) or fail validation (version + 1).</li>
 *   <li><b>Free</b> ({@link #free}): serialised with moves and pins through the same word; a free meeting a move
 *       waits for it, one meeting a pin throws; a stale handle (freed, twice freed, forged) throws and touches
 *       nothing.</li>
 * </ul>
 * Limits: a generation repeats after 2^28 frees of one slot and a version after 2^18 moves of one block; only a
 * handle kept across that many reuses of its slot (about 12 s of a tight allocate-free loop on one slot on this
 * machine kind), or an optimistic read stalled across that many moves, could be fooled.
 *
 * <h2>Example: an optimistic read of one long</h2>
 * <pre>{@code
 * long s = HandleProtocol.beginRead(chunk, base, handle);   // throws if stale
 * long loc = HandleTable.lpLocation(chunk, base);
 * long v = memory.get(JAVA_LONG, offsetOf(loc) + offset);  // the range segment
 * if (HandleProtocol.validate(chunk, base, s)) return v;    // else retry, then pin
 * }</pre>
 */
final class HandleProtocol {
    private HandleProtocol() {
    }

    // ------------------------------------------------------------------------------------------------ publish

    /**
     * Publishes a new allocation in a FREE {@code slot} that the caller owns: location, size and flags, then the
     * state (release store: the publication). The caller has already written the block's contents (zeroing).
     *
     * @return the handle
     */
    static long publish(HandleTable table, int slot, long location, long size, int flags) {
        long[] c = table.chunkOfSlot(slot);
        if (c == null) {
            // close() retired the table after this slow-path allocation took its block (the facade reports the
            // allocator closed, with this as the cause). A cache's publish cannot meet it: close detaches every
            // cache, waiting out operations in flight, before it retires the table.
            throw new IllegalStateException("slot " + slot + " cannot be published: the handle table is retired");
        }
        int base = HandleLayout.baseOfSlot(slot);
        HandleTable.spLocation(c, base, location);
        return publishAt(table, c, base, slot, size, flags);
    }

    /**
     * Publishes a new allocation in a FREE {@code slot} that a thread cache holds together with its block: the
     * location is in the entry already ({@link HandleTable#setFreeLocation}).
     *
     * @return the handle
     */
    static long publishCached(HandleTable table, int slot, long size, int flags) {
        return publishAt(table, table.chunkOfSlot(slot), HandleLayout.baseOfSlot(slot), slot, size, flags);
    }

    private static long publishAt(HandleTable table, long[] c, int base, int slot, long size, int flags) {
        long gen = HandleLayout.genOfState(HandleTable.lpState(c, base));
        HandleTable.spSize(c, base, size);
        HandleTable.spFlags(c, base, flags);
        HandleTable.soState(c, base, HandleLayout.liveState(gen)); // publishes the allocation
        return HandleLayout.handle(table.tag, gen, slot);
    }

    // ------------------------------------------------------------------------------------------------ readers

    /**
     * The first half of an optimistic read: an acquire load of the state.
     *
     * @return the state to {@link #validate} against
     * @throws StaleHandleException if the handle is not live
     */
    static long beginRead(long[] c, int base, long handle) {
        long s = HandleTable.laState(c, base);
        if (!HandleLayout.isLive(s, handle)) {
            throw stale(handle, s);
        }
        return s;
    }

    /**
     * The second half of an optimistic read: a fence that keeps the reads before it from passing the re-load of
     * the state, then the check.
     *
     * @param begin the state {@link #beginRead} returned
     * @return whether everything read since {@code begin} belongs to the same allocation at the same version
     */
    static boolean validate(long[] c, int base, long begin) {
        VarHandle.acquireFence();
        return ((begin ^ HandleTable.lpState(c, base)) & VALIDATE_MASK) == 0;
    }

    /**
     * Pins the entry: spins while a move copies the block (bounded by one block copy).
     *
     * @return the state word before the pin
     * @throws StaleHandleException if the handle is not live
     * @throws IllegalStateException if the pin count would overflow
     */
    static long pin(long[] c, int base, long handle) {
        for (int spins = 0; ; spins++) {
            long s = HandleTable.lvState(c, base);
            if (!HandleLayout.isLive(s, handle)) {
                throw stale(handle, s);
            }
            if ((s & MOVING) != 0) {
                backoff(spins);
                continue;
            }
            if ((s & PINS_MASK) == PINS_MASK) {
                throw new IllegalStateException("handle 0x" + Long.toHexString(handle) + " has "
                        + PINS_MASK + " pins, the most one allocation can hold");
            }
            if (HandleTable.casState(c, base, s, s + 1)) {
                return s;
            }
        }
    }

    /**
     * Drops one pin that the caller took itself, in the same method (the accessors' pin pairs): one get-and-add.
     * The pairing is by construction, so the count is never zero here.
     */
    static void unpin(long[] c, int base) {
        long before = HandleTable.gaaState(c, base, -1L);
        assert (before & PINS_MASK) != 0 : "unpin without pin";
    }

    /**
     * Drops the pin of a user's {@code Pin}: a CAS loop that checks the count first, so that the word never holds a
     * count below zero (a get-and-add of -1 on a word with no pin would borrow from MOVING, FREE and the generation,
     * where other threads could see it: a live handle read as stale, a pin left after a mover's store). A get-and-add
     * measured about 3 ns less per write (`AccessBenchmark.handleSetLong`), hence the two.
     *
     * @throws IllegalStateException if the entry holds no pin, changing nothing: only a misuse gets there (one
     *                               {@code Pin} closed by two threads at once, each seeing it open)
     */
    static void unpinChecked(long[] c, int base) {
        long s = HandleTable.lvState(c, base);
        while (true) {
            if ((s & PINS_MASK) == 0) {
                throw new IllegalStateException("unpin of an entry that holds no pin (a Pin closed by two threads "
                        + "at once?)");
            }
            long witness = HandleTable.caxState(c, base, s, s - 1);
            if (witness == s) {
                return;
            }
            s = witness;
        }
    }

    // ------------------------------------------------------------------------------------------------ free

    /**
     * Frees the allocation: CAS from (generation, pins 0, not MOVING, not FREE) to (generation + 1, FREE). On
     * return the slot is the caller's: no mover can freeze a FREE entry, so its location and size are stable.
     *
     * @throws StaleHandleException if the handle is not live
     * @throws IllegalStateException if it is pinned
     */
    static void free(long[] c, int base, long handle) {
        long s = HandleTable.lvState(c, base);
        if (!HandleLayout.isFreeable(s, handle) || !HandleTable.casState(c, base, s, HandleLayout.freedState(s))) {
            freeContended(c, base, handle);
        }
    }

    /**
     * Waits until the entry is in a state a free accepts (live, not MOVING, pins 0) and returns it, without
     * changing it: for a step that must come before a free that succeeds (PARANOID leak detection closes the
     * allocation's segment scopes). A pin or a move may come between this and the free's own CAS.
     *
     * @throws StaleHandleException if the handle is not live
     * @throws IllegalStateException if it is pinned (what the free would throw)
     */
    static long awaitFreeable(long[] c, int base, long handle) {
        for (int spins = 0; ; spins++) {
            long s = HandleTable.lvState(c, base);
            if (!HandleLayout.isLive(s, handle)) {
                throw stale(handle, s);
            }
            if ((s & MOVING) != 0) {
                backoff(spins);
                continue;
            }
            if ((s & PINS_MASK) != 0) {
                throw pinned(handle, s);
            }
            return s;
        }
    }

    /**
     * The uncontended half of {@link #free}, for a caller that reads the entry's other words before the CAS (so the
     * loads need not wait for it): the CAS from {@code s}, a state the caller loaded with
     * {@link HandleTable#lvState}. When it succeeds, the location, size and flags the caller read between that load
     * and this call are the freed allocation's: they change only together with the state (a move's publication,
     * a reuse's), and a changed state fails the CAS; except that 2^18 moves while the caller stands between its
     * load and this CAS bring the version back (the limit in the class comment), so a caller that acts on the
     * location checks it again after the CAS ({@link Allocation#free} does). When it fails, nothing changed: the
     * caller runs {@link #freeContended} and reads the words again.
     *
     * @return whether the entry is FREE now, freed by this call
     */
    static boolean tryFree(long[] c, int base, long handle, long s) {
        return HandleLayout.isFreeable(s, handle) && HandleTable.casState(c, base, s, HandleLayout.freedState(s));
    }

    /**
     * The CAS loop of a free that found the entry pinned, moving, stale, or changing: returns once it is FREE.
     *
     * @throws StaleHandleException if the handle is not live
     * @throws IllegalStateException if it is pinned
     */
    static void freeContended(long[] c, int base, long handle) {
        while (true) {
            long s = awaitFreeable(c, base, handle); // throws for a stale or pinned entry, waits out a move
            if (HandleTable.casState(c, base, s, HandleLayout.freedState(s))) {
                return;
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ mover

    /**
     * Freezes the entry for a move: CAS from (live at generation {@code gen}, pins 0) to MOVING, retrying up to
     * {@code attempts} times while pins come and go. The generation is the one the mover inspected: a slot freed
     * and reused meanwhile (a thread cache reuses a slot with its block, so even the location matches) holds
     * another allocation, whose flags were not checked.
     *
     * @return the state before the freeze, or -1 if the entry is pinned throughout, freed, moving or reused
     */
    static long freeze(long[] c, int base, long gen, int attempts) {
        for (int i = 0; i < attempts; i++) {
            long s = HandleTable.lvState(c, base);
            if ((s & (FREE | MOVING)) != 0 || HandleLayout.genOfState(s) != gen) {
                return -1L;
            }
            if (HandleLayout.pinsOf(s) == 0) {
                if (HandleTable.casState(c, base, s, s | MOVING)) {
                    return s;
                }
            } else {
                Thread.onSpinWait();
            }
        }
        return -1L;
    }

    /**
     * Completes a move: the new location (release), then the state with version + 1 and MOVING clear (release:
     * publishes the new copy, whose bytes the mover wrote before).
     *
     * @param frozen the state {@link #freeze} returned
     */
    static void publishMove(long[] c, int base, long frozen, long newLocation) {
        HandleTable.soLocation(c, base, newLocation);
        HandleTable.soState(c, base, HandleLayout.nextVersion(frozen));
    }

    /** Abandons a move: the state as it was before the freeze (the old copy never changed). */
    static void unfreeze(long[] c, int base, long frozen) {
        HandleTable.soState(c, base, frozen);
    }

    // ------------------------------------------------------------------------------------------------ helpers

    private static IllegalStateException pinned(long handle, long state) {
        return new IllegalStateException("cannot free handle 0x" + Long.toHexString(handle) + ": it is pinned (pins "
                + HandleLayout.pinsOf(state) + ")");
    }

    static StaleHandleException stale(long handle, long state) {
        return new StaleHandleException("stale handle 0x" + Long.toHexString(handle) + ": generation "
                + HandleLayout.genOfHandle(handle) + ", slot " + HandleLayout.slotOf(handle) + " is "
                + ((state & FREE) != 0 ? "free" : "live") + " at generation " + HandleLayout.genOfState(state)
                + " (freed, freed twice or forged)");
    }

    /** Spins, then yields: for waits bounded by another thread's short critical section. */
    static void backoff(int spins) {
        if (spins < 64) {
            Thread.onSpinWait();
        } else {
            Thread.yield();
        }
    }
}

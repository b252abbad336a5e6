/**
 * hotmem's engine. Not exported. Each file holds one concern and opens with a paragraph saying which;
 * {@link io.hotmem.internal.DefaultPageAllocator} lists them. The handle protocol, both sides of it, is
 * {@link io.hotmem.internal.HandleProtocol}.
 *
 * <p><b>Naming of memory-ordered accessors</b> (after JCTools): {@code lp} plain load, {@code la} acquire load,
 * {@code lv} volatile load, {@code sp} plain store, {@code so} ordered (release) store, {@code sv} volatile store,
 * {@code cas} compare-and-set, {@code cax} compare-and-exchange (returns the witness), {@code gaa} get-and-add.
 * Each hot field has one small set of such accessors, next to its definition, and nothing else touches it.
 *
 * <p><b>Lock-held suffixes.</b> A method whose name ends in {@code Locked} needs the lock of the object it belongs
 * to: a {@link io.hotmem.internal.Zone}'s lock, or the {@link io.hotmem.internal.HandleTable}'s slot lock
 * (asserted where the lock is a {@code ReentrantLock}). A method whose name ends in {@code UnderControl} needs the
 * allocator's control lock ({@link io.hotmem.internal.NodeLifecycle}, asserted).
 *
 * <p><b>Locks, in the order they are taken</b> (a thread holding one may take only those below it):
 * <table>
 *   <caption>Lock order</caption>
 *   <tr><th>lock</th><th>guards</th><th>held by</th></tr>
 *   <tr><td>1. control ({@code NodeLifecycle})</td><td>node states, topology, relocations, close</td>
 *       <td>every transition, remap, drain, offline, close; listener callbacks run under it</td></tr>
 *   <tr><td>2. cache registry ({@code CacheRegistry}, private)</td><td>the list and index of thread caches</td>
 *       <td>registration of a new cache, the dead-thread sweep, detach at close</td></tr>
 *   <tr><td>3. reclaim ({@code CacheRegistry})</td><td>one reclaimer at a time in the cache handshake</td>
 *       <td>every reclaim; inside it the reclaimer waits for an owner's operation in flight</td></tr>
 *   <tr><td>4. zone locks ({@code Zone.lock}), in zone id order</td><td>buddy lists, page map, counters</td>
 *       <td>allocation slow paths, refills, spills, moves (a mover never holds two), node state changes and
 *       status (all of one node's zones together)</td></tr>
 *   <tr><td>5. handle table slots ({@code HandleTable}, leaf)</td><td>the free-slot stack</td>
 *       <td>slot acquire and release; nothing is taken under it</td></tr>
 *   <tr><td>(leaf) tag registry ({@code HandleTags})</td><td>which tags are leased</td>
 *       <td>building and closing an allocator</td></tr>
 *   <tr><td>(leaf) governor ({@code Governor}'s monitor)</td><td>per-node backoff, reports, cgroup read times</td>
 *       <td>the capacity governor's bookkeeping; nothing is taken under it</td></tr>
 *   <tr><td>(leaf) leak records ({@code LeakDetector}: a tracked allocation's or pin's monitor)</td>
 *       <td>its PARANOID scope and closed/freed flags</td><td>segment creation, pin close, free, close; only an
 *       arena's close (a handshake, no lock) runs under it</td></tr>
 * </table>
 * An owner's cache operation (a thread-cache allocate or free) is not a lock, but a reclaimer waits for it: an
 * owner takes zone locks (4) and the slot lock (5) inside one and nothing above them, so the wait cannot close a
 * cycle. The background agent takes 2, 3 and 4; its capacity governor only tries 1 (a tryLock of 50 ms that fails
 * once the allocator is closed), so close, holding 1 while it joins the agent's thread, cannot deadlock with it.
 * A compaction ({@code Compactor}) takes 3 (to reclaim its zone from the caches) and 4, never 1; an unplug, holding
 * 1, waits (at most 2 s) for the compactions of its node's zones to end, and none of them waits for 1.
 */
package io.hotmem.internal;

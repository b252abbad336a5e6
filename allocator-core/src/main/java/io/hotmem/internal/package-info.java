/**
 * hotmem's engine: nodes, zones with their buddy allocators, zonelists and the handle table. Not exported.
 *
 * <p><b>Naming of memory-ordered accessors</b> (after JCTools): {@code lp} plain load, {@code la} acquire load,
 * {@code lv} volatile load, {@code so} ordered (release) store, {@code sv} volatile store, {@code cas}
 * compare-and-set, {@code gaa} get-and-add. Each hot field has one small set of such accessors, next to its
 * definition, and nothing else touches it.
 *
 * <p><b>Locks.</b> The allocator's control lock serialises node transitions; each zone has its own lock for its
 * buddy lists and counters. A method whose name ends in {@code Locked} needs its zone's lock held (asserted).
 * Lock order: control lock, then zone locks in zone id order. The handle table's slot lock is a leaf.
 */
package io.hotmem.internal;

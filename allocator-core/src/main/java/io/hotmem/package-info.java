/**
 * hotmem's public API.
 *
 * <p>A {@link io.hotmem.PageAllocator} manages off-heap memory as <em>nodes</em> (real memory regions, anonymous
 * {@code mmap} on Linux), each split into <em>zones</em> served by a buddy allocator. Every allocation is reached
 * through a {@code long} handle. An allocation made with {@link io.hotmem.AllocFlags#HOTREMOVABLE} may be moved
 * between zones while other threads read and write it through its handle, so a hot-removable node can be
 * emptied and its memory returned to the operating system.
 *
 * <pre>{@code
 * try (PageAllocator a = PageAllocator.builder()
 *         .node(NodeSpec.fixed(64L << 20))
 *         .node(NodeSpec.hotRemovable(64L << 20))
 *         .build()) {
 *     long h = a.allocate(10_000, AllocFlags.HOTREMOVABLE);
 *     a.setLong(h, 0, 42L);
 *     long v = a.getLong(h, 0);
 *     a.free(h);
 * }
 * }</pre>
 */
package io.hotmem;

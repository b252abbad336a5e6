/**
 * Platform memory: where a node's bytes come from and how they go back. One small class per backing, chosen in
 * one place ({@link io.hotmem.internal.prim.Backing#allocate}).
 */
package io.hotmem.internal.prim;

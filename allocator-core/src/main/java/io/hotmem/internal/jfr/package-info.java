/**
 * hotmem's JFR events, category "hotmem": node state changes, relocations (remap, drain, offline), compactions
 * and allocation failures. Record them with {@code -XX:StartFlightRecording} or a {@code RecordingStream}; each is enabled by
 * default and costs nothing when no recording runs.
 */
package io.hotmem.internal.jfr;

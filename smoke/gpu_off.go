//go:build !gpu

package smoke

// GPUTag reports whether the suite was built with -tags gpu: NVML, a driver and a GPU are then
// required, and every cross-check between them and torch is strict.
const GPUTag = false

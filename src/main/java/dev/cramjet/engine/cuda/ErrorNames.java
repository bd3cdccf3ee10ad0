package dev.cramjet.engine.cuda;

import java.util.Map;

/**
 * Status codes of the driver, cuBLASLt and NVRTC as names. At run time the libraries name their own codes
 * (cuGetErrorName, cublasLtGetStatusName, nvrtcGetErrorString); these tables cover the codes a user is likely to
 * meet when that is not possible (the library failed to load, or the code arrived before it did), and give the
 * hints that turn a name into an action. Values are from the CUDA 13.0 headers.
 */
public final class ErrorNames {
    private ErrorNames() {}

    static final Map<Integer, String> DRIVER = Map.ofEntries(
            Map.entry(0, "CUDA_SUCCESS"),
            Map.entry(1, "CUDA_ERROR_INVALID_VALUE"),
            Map.entry(2, "CUDA_ERROR_OUT_OF_MEMORY"),
            Map.entry(3, "CUDA_ERROR_NOT_INITIALIZED"),
            Map.entry(4, "CUDA_ERROR_DEINITIALIZED"),
            Map.entry(34, "CUDA_ERROR_STUB_LIBRARY"),
            Map.entry(36, "CUDA_ERROR_CALL_REQUIRES_NEWER_DRIVER"),
            Map.entry(46, "CUDA_ERROR_DEVICE_UNAVAILABLE"),
            Map.entry(100, "CUDA_ERROR_NO_DEVICE"),
            Map.entry(101, "CUDA_ERROR_INVALID_DEVICE"),
            Map.entry(200, "CUDA_ERROR_INVALID_IMAGE"),
            Map.entry(201, "CUDA_ERROR_INVALID_CONTEXT"),
            Map.entry(209, "CUDA_ERROR_NO_BINARY_FOR_GPU"),
            Map.entry(214, "CUDA_ERROR_ECC_UNCORRECTABLE"),
            Map.entry(218, "CUDA_ERROR_INVALID_PTX"),
            Map.entry(222, "CUDA_ERROR_UNSUPPORTED_PTX_VERSION"),
            Map.entry(300, "CUDA_ERROR_INVALID_SOURCE"),
            Map.entry(400, "CUDA_ERROR_INVALID_HANDLE"),
            Map.entry(500, "CUDA_ERROR_NOT_FOUND"),
            Map.entry(600, "CUDA_ERROR_NOT_READY"),
            Map.entry(700, "CUDA_ERROR_ILLEGAL_ADDRESS"),
            Map.entry(701, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES"),
            Map.entry(702, "CUDA_ERROR_LAUNCH_TIMEOUT"),
            Map.entry(710, "CUDA_ERROR_ASSERT"),
            Map.entry(715, "CUDA_ERROR_ILLEGAL_INSTRUCTION"),
            Map.entry(716, "CUDA_ERROR_MISALIGNED_ADDRESS"),
            Map.entry(719, "CUDA_ERROR_LAUNCH_FAILED"),
            Map.entry(800, "CUDA_ERROR_NOT_PERMITTED"),
            Map.entry(801, "CUDA_ERROR_NOT_SUPPORTED"),
            Map.entry(802, "CUDA_ERROR_SYSTEM_NOT_READY"),
            Map.entry(803, "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH"),
            Map.entry(804, "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE"),
            Map.entry(900, "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED"),
            Map.entry(901, "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED"),
            Map.entry(999, "CUDA_ERROR_UNKNOWN"));

    static final Map<Integer, String> CUBLAS = Map.ofEntries(
            Map.entry(0, "CUBLAS_STATUS_SUCCESS"),
            Map.entry(1, "CUBLAS_STATUS_NOT_INITIALIZED"),
            Map.entry(3, "CUBLAS_STATUS_ALLOC_FAILED"),
            Map.entry(7, "CUBLAS_STATUS_INVALID_VALUE"),
            Map.entry(8, "CUBLAS_STATUS_ARCH_MISMATCH"),
            Map.entry(11, "CUBLAS_STATUS_MAPPING_ERROR"),
            Map.entry(13, "CUBLAS_STATUS_EXECUTION_FAILED"),
            Map.entry(14, "CUBLAS_STATUS_INTERNAL_ERROR"),
            Map.entry(15, "CUBLAS_STATUS_NOT_SUPPORTED"),
            Map.entry(16, "CUBLAS_STATUS_LICENSE_ERROR"));

    static final Map<Integer, String> NVRTC = Map.ofEntries(
            Map.entry(0, "NVRTC_SUCCESS"),
            Map.entry(1, "NVRTC_ERROR_OUT_OF_MEMORY"),
            Map.entry(2, "NVRTC_ERROR_PROGRAM_CREATION_FAILURE"),
            Map.entry(3, "NVRTC_ERROR_INVALID_INPUT"),
            Map.entry(4, "NVRTC_ERROR_INVALID_PROGRAM"),
            Map.entry(5, "NVRTC_ERROR_INVALID_OPTION"),
            Map.entry(6, "NVRTC_ERROR_COMPILATION"),
            Map.entry(7, "NVRTC_ERROR_BUILTIN_OPERATION_FAILURE"),
            Map.entry(11, "NVRTC_ERROR_INTERNAL_ERROR"));

    private static final Map<String, String> HINTS = Map.of(
            "CUDA_ERROR_NO_DEVICE", "no CUDA GPU is visible (check nvidia-smi and CUDA_VISIBLE_DEVICES)",
            "CUDA_ERROR_STUB_LIBRARY", "the libcuda.so found is the toolkit's stub, not the driver; install the NVIDIA driver",
            "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH", "the driver library and the kernel module differ in version; reboot or reinstall the driver",
            "CUDA_ERROR_OUT_OF_MEMORY", "the GPU is out of memory; use a smaller batch or sequence, or free the GPU",
            "CUDA_ERROR_UNSUPPORTED_PTX_VERSION", "NVRTC is newer than the driver; use an NVRTC of the driver's CUDA version",
            "CUDA_ERROR_NO_BINARY_FOR_GPU", "the kernels were compiled for another GPU architecture; clear the kernel cache",
            "CUBLAS_STATUS_NOT_SUPPORTED", "cuBLASLt has no kernel for this shape, type or alignment");

    /** The name of a driver status code, e.g. 2 → CUDA_ERROR_OUT_OF_MEMORY. */
    public static String driver(int code) { return DRIVER.getOrDefault(code, "CUresult " + code); }

    public static String cublas(int code) { return CUBLAS.getOrDefault(code, "cublasStatus " + code); }

    public static String nvrtc(int code) { return NVRTC.getOrDefault(code, "nvrtcResult " + code); }

    /** "NAME" or "NAME (what to do)" when we know what to do. */
    public static String withHint(String name) {
        String hint = HINTS.get(name);
        return hint == null ? name : name + " (" + hint + ")";
    }
}

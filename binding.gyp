{
  # The same addon as CMakeLists.txt, for `npx node-gyp rebuild`. LibTorch flags come from
  # scripts/torch-config.mjs, the discovery both builds share; the sources are compiled as the same unity
  # groups (scripts/unity-groups.mjs).
  "targets": [
    {
      "target_name": "seqsam",
      "sources": ["<!@(node scripts/unity-groups.mjs --gyp build/unity)"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native",
        "<!@(node scripts/torch-config.mjs --gyp include_dirs)",
        "<!@(node scripts/c10d-config.mjs include_dirs)"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "SEQSAM_WITH_CUDA=0",
        "SEQSAM_CUDA_GRAPHS=0",
        "<!@(node scripts/c10d-config.mjs defines)"
      ],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags_cc": [
        "-std=c++17",
        "-fexceptions",
        "-frtti",
        "-O2",
        "-Wno-unused-parameter",
        "<!@(node scripts/torch-config.mjs --gyp cflags)"
      ],
      "libraries": ["<!@(node scripts/torch-config.mjs --gyp libraries)"],
      "ldflags": ["<!@(node scripts/torch-config.mjs --gyp ldflags)"]
    }
  ]
}

{
  "targets": [
    {
      "target_name": "vdisk_native",
      "sources": ["native/vdisk_native.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}

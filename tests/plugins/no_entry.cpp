// A shared object without DALENET_PLUGIN's entry points: not a dalenet plugin.
extern "C" __attribute__((visibility("default"))) int some_other_library_function() {
  return 1;
}

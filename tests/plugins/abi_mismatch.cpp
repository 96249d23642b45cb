// A plugin whose signature names another dalenet: the loader must refuse it before registering.
extern "C" __attribute__((visibility("default"))) const char* dalenet_plugin_abi() {
  return "interface 0, dalenet 0.0.0, eigen 0.0.0 align 0, libstdc++ cxx11 abi 0";
}
extern "C" __attribute__((visibility("default"))) void dalenet_plugin_register() {}

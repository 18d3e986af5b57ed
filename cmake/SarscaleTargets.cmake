# sarscale_add_layer(NAME SOURCES ... DEPS ...): one library per layer, exported as
# sarscale::NAME. The DEPS list is the layering: a layer can only use what it links.
function(sarscale_add_layer name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(sarscale_${name} ${ARG_SOURCES})
  add_library(sarscale::${name} ALIAS sarscale_${name})
  set_target_properties(sarscale_${name} PROPERTIES EXPORT_NAME ${name} OUTPUT_NAME sarscale_${name})
  target_include_directories(sarscale_${name} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
    $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_link_libraries(sarscale_${name} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  # The public headers are C++20: exported, so that find_package(sarscale) consumers build with it
  # without setting a standard themselves.
  target_compile_features(sarscale_${name} PUBLIC cxx_std_20)
  target_compile_options(sarscale_${name} PRIVATE -Wall -Wextra -Wpedantic)
  set_property(GLOBAL APPEND PROPERTY SARSCALE_LAYERS sarscale_${name})
endfunction()

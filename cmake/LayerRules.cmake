# The layer rule, checked when CMake configures (not just stated in a comment).
#
# Each folder src/<layer> is one layer; its targets are the layer's
# libraries. After every target is defined, clipserve_check_layer_rules()
# reads the direct links of each of them (LINK_LIBRARIES and
# INTERFACE_LINK_LIBRARIES, so PRIVATE, PUBLIC and INTERFACE links all
# count) and fails configuration, naming every broken link, when
#   1. a folder under src/ with a CMakeLists.txt is not in LAYERS;
#   2. a target links a target of a layer listed after its own;
#   3. a target outside EDGE_LAYERS links a target of an edge layer (edge
#      layers are leaves: only apps and tests build on them);
#   4. a target outside EDGE_LAYERS links one of EDGE_LIBRARIES (JSON, HTTP),
#      directly or through targets that are not layers (an INTERFACE helper
#      wrapping httplib counts), unless ALLOW_PRIVATE names the pair and the
#      link is PRIVATE.
# Apps, tests and micro-benchmarks are not layers and may link anything.
#
# clipserve_check_layer_rules(
#   LAYERS <layer>...               dependency order, lowest first
#   EDGE_LAYERS <layer>...          the layers that may know HTTP and JSON
#   EDGE_LIBRARIES <target>...      the JSON and HTTP libraries
#   [ALLOW_PRIVATE <target> <library> ...]   pairs: exceptions to rule 4
#   [SOURCE_ROOT <dir>])            default: ${PROJECT_SOURCE_DIR}/src

# Targets defined in `dir` and its subdirectories.
function(_clipserve_targets_under dir out)
  get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(sub IN LISTS subdirs)
    _clipserve_targets_under(${sub} sub_targets)
    list(APPEND targets ${sub_targets})
  endforeach()
  set(${out} ${targets} PARENT_SCOPE)
endfunction()

# The target names in one link item: "$<LINK_ONLY:x>" and other generator
# expressions are looked through; aliases resolve to the real target; plain
# paths and flags are dropped.
function(_clipserve_link_item_targets item out)
  string(REPLACE "::" "@@" text "${item}")
  string(REGEX MATCHALL "[A-Za-z0-9_@.+-]+" tokens "${text}")
  set(names "")
  foreach(token IN LISTS tokens)
    string(REPLACE "@@" "::" token "${token}")
    if(TARGET ${token})
      get_target_property(real ${token} ALIASED_TARGET)
      if(real)
        set(token ${real})
      endif()
      list(APPEND names ${token})
    endif()
  endforeach()
  set(${out} ${names} PARENT_SCOPE)
endfunction()

# Direct links of `target`: every linked target in `all`, and in `public`
# those that reach its users (INTERFACE_LINK_LIBRARIES without LINK_ONLY).
function(_clipserve_direct_links target all public)
  get_target_property(type ${target} TYPE)
  set(items "")
  if(NOT type STREQUAL "INTERFACE_LIBRARY")
    get_target_property(items ${target} LINK_LIBRARIES)
    if(NOT items)
      set(items "")
    endif()
  endif()
  get_target_property(iface ${target} INTERFACE_LINK_LIBRARIES)
  if(NOT iface)
    set(iface "")
  endif()
  set(all_names "")
  set(public_names "")
  foreach(item IN LISTS items iface)
    _clipserve_link_item_targets("${item}" names)
    list(APPEND all_names ${names})
  endforeach()
  foreach(item IN LISTS iface)
    if(NOT item MATCHES "^\\$<LINK_ONLY:")
      _clipserve_link_item_targets("${item}" names)
      list(APPEND public_names ${names})
    endif()
  endforeach()
  list(REMOVE_DUPLICATES all_names)
  list(REMOVE_DUPLICATES public_names)
  set(${all} ${all_names} PARENT_SCOPE)
  set(${public} ${public_names} PARENT_SCOPE)
endfunction()

function(clipserve_check_layer_rules)
  cmake_parse_arguments(R "" "SOURCE_ROOT" "LAYERS;EDGE_LAYERS;EDGE_LIBRARIES;ALLOW_PRIVATE" ${ARGN})
  if(NOT R_SOURCE_ROOT)
    set(R_SOURCE_ROOT ${PROJECT_SOURCE_DIR}/src)
  endif()
  string(REPLACE ";" " < " order "${R_LAYERS}")
  string(REPLACE ";" " and " edges "${R_EDGE_LAYERS}")
  set(errors "")
  # Compare real targets: an alias given here stands for what it names.
  foreach(list_name R_EDGE_LIBRARIES R_ALLOW_PRIVATE)
    set(resolved "")
    foreach(name IN LISTS ${list_name})
      _clipserve_link_item_targets("${name}" real)
      if(real)
        list(APPEND resolved ${real})
      else()
        list(APPEND resolved ${name})
      endif()
    endforeach()
    set(${list_name} ${resolved})
  endforeach()

  # Rule 1: every layer folder is in the order.
  file(GLOB dirs LIST_DIRECTORIES true ${R_SOURCE_ROOT}/*)
  foreach(dir IN LISTS dirs)
    get_filename_component(name ${dir} NAME)
    if(IS_DIRECTORY ${dir} AND EXISTS ${dir}/CMakeLists.txt AND NOT name IN_LIST R_LAYERS)
      list(APPEND errors "src/${name} is not in the layer order: add it to the list, where its links allow")
    endif()
  endforeach()

  # Which layer each target belongs to, and the layer's rank in the order.
  set(layer_targets "")
  set(rank 0)
  foreach(layer IN LISTS R_LAYERS)
    if(EXISTS ${R_SOURCE_ROOT}/${layer}/CMakeLists.txt)
      _clipserve_targets_under(${R_SOURCE_ROOT}/${layer} targets)
      foreach(t IN LISTS targets)
        set(_layer_${t} ${layer})
        set(_rank_${t} ${rank})
        list(APPEND layer_targets ${t})
      endforeach()
    endif()
    math(EXPR rank "${rank} + 1")
  endforeach()

  set(checked "")
  foreach(t IN LISTS layer_targets)
    get_target_property(type ${t} TYPE)
    if(type STREQUAL "UTILITY")
      continue()
    endif()
    list(APPEND checked ${t})
    set(layer ${_layer_${t}})
    set(where "${t} (src/${layer})")
    _clipserve_direct_links(${t} links public_links)
    set(is_edge FALSE)
    if(layer IN_LIST R_EDGE_LAYERS)
      set(is_edge TRUE)
    endif()

    # Rules 2 and 3: links between layers.
    foreach(dep IN LISTS links)
      if(DEFINED _rank_${dep})
        set(dep_layer ${_layer_${dep}})
        if(_rank_${dep} GREATER _rank_${t})
          list(APPEND errors "${where} links ${dep} (src/${dep_layer}), a layer above its own")
        elseif(NOT is_edge AND dep_layer IN_LIST R_EDGE_LAYERS)
          list(APPEND errors "${where} links ${dep} (src/${dep_layer}), an edge layer: only apps and tests build on it")
        endif()
      endif()
    endforeach()

    # Rule 4: JSON and HTTP stay at the edges, also through helper targets.
    if(is_edge)
      continue()
    endif()
    set(seen "")
    set(work "")
    foreach(dep IN LISTS links)
      if(NOT DEFINED _rank_${dep})
        list(APPEND work "${dep}|${dep}")  # target|how it is reached
      endif()
    endforeach()
    while(work)
      list(POP_FRONT work entry)
      string(REPLACE "|" ";" entry "${entry}")
      list(GET entry 0 dep)
      list(GET entry 1 via)
      if(dep IN_LIST seen)
        continue()
      endif()
      list(APPEND seen ${dep})
      if(dep IN_LIST R_EDGE_LIBRARIES)
        set(allowed FALSE)
        set(pairs ${R_ALLOW_PRIVATE})
        while(pairs)
          list(POP_FRONT pairs allow_target allow_library)
          if(allow_target STREQUAL t AND allow_library STREQUAL dep AND via STREQUAL dep)
            set(allowed TRUE)
          endif()
        endwhile()
        if(allowed AND dep IN_LIST public_links)
          list(APPEND errors "${where} links ${dep} PUBLIC or INTERFACE: its exception allows a PRIVATE link only")
        elseif(NOT allowed)
          if(via STREQUAL dep)
            list(APPEND errors "${where} links ${dep}: JSON and HTTP libraries belong to ${edges} only")
          else()
            list(APPEND errors "${where} links ${via}, which brings ${dep}: JSON and HTTP libraries belong to ${edges} only")
          endif()
        endif()
        continue()
      endif()
      # A helper that is not a layer: what it passes on to its users counts.
      get_target_property(next ${dep} INTERFACE_LINK_LIBRARIES)
      if(next)
        foreach(item IN LISTS next)
          _clipserve_link_item_targets("${item}" names)
          foreach(n IN LISTS names)
            if(NOT DEFINED _rank_${n})
              list(APPEND work "${n}|${via}")
            endif()
          endforeach()
        endforeach()
      endif()
    endwhile()
  endforeach()

  if(errors)
    list(REMOVE_DUPLICATES errors)
    string(REPLACE ";" "\n  " lines "${errors}")
    string(REPLACE ";" ", " edge_libraries "${R_EDGE_LIBRARIES}")
    message(FATAL_ERROR "Layer rule broken (cmake/LayerRules.cmake):\n  ${lines}\n"
      "Layers, lowest first: ${order}. A layer links only its own layer and the ones before it; "
      "only ${edges} may link ${edge_libraries}.")
  endif()
  list(LENGTH checked n)
  message(STATUS "Layer rule holds: ${n} libraries in ${order}")
endfunction()

/*{
    "ISFVSN": "2",
    "DESCRIPTION": "Truchet tiles: each square holds two quarter-circle arcs in one of two orientations, which together weave endless winding paths; tiles flip now and then, rerouting the maze, and the paths glow in two colours.",
    "CREDIT": "live project",
    "CATEGORIES": ["Generator", "Pattern"],
    "INPUTS": [
        {"NAME": "tilesDown", "TYPE": "float", "LABEL": "Tiles down the screen", "MIN": 2.0, "MAX": 40.0, "DEFAULT": 9.0},
        {"NAME": "lineWidth", "TYPE": "float", "LABEL": "Path width (fraction of a tile)", "MIN": 0.02, "MAX": 0.45, "DEFAULT": 0.12},
        {"NAME": "flipRate", "TYPE": "float", "LABEL": "Flips per tile per second", "MIN": 0.0, "MAX": 4.0, "DEFAULT": 0.3},
        {"NAME": "scrollSpeed", "TYPE": "float", "LABEL": "Scroll speed (tiles per second)", "MIN": -4.0, "MAX": 4.0, "DEFAULT": 0.3},
        {"NAME": "glow", "TYPE": "float", "LABEL": "Glow", "MIN": 0.0, "MAX": 1.0, "DEFAULT": 0.5},
        {"NAME": "colorA", "TYPE": "color", "LABEL": "Path colour A", "DEFAULT": [1.0, 0.55, 0.1, 1.0]},
        {"NAME": "colorB", "TYPE": "color", "LABEL": "Path colour B", "DEFAULT": [0.2, 0.4, 1.0, 1.0]},
        {"NAME": "backgroundColor", "TYPE": "color", "LABEL": "Background colour", "DEFAULT": [0.02, 0.0, 0.04, 1.0]}
    ]
}*/

// Cost: no texture fetches; two integer hashes and two distances per pixel.

float hashTile(vec2 tile, float seed) {
    uvec3 v = uvec3(ivec3(ivec2(floor(tile)), int(seed)));
    uint h = v.x * 0x9E3779B1u + v.y * 0x85EBCA77u + v.z * 0xC2B2AE3Du;
    h ^= h >> 15;
    h *= 0x27D4EB2Fu;
    h ^= h >> 13;
    return float(h & 0x00FFFFFFu) / 16777215.0;
}

void main() {
    vec2 grid = isf_FragNormCoord * vec2(RENDERSIZE.x / RENDERSIZE.y, 1.0) * tilesDown;
    grid.x += TIME * scrollSpeed;
    vec2 tile = floor(grid);
    vec2 inTile = fract(grid);
    // each tile flips at its own moments: its own phase offset on the shared clock
    float epoch = floor(TIME * flipRate + hashTile(tile, 101.0) * 8.0);
    bool flipped = hashTile(tile, epoch) > 0.5;
    if (flipped) inTile.x = 1.0 - inTile.x;
    // distance to the nearer of the two arcs, centred on opposite corners, radius 1/2
    float arcLow = abs(length(inTile) - 0.5);
    float arcHigh = abs(length(inTile - 1.0) - 0.5);
    float distanceToPath = min(arcLow, arcHigh);
    float pixel = 1.0 / (RENDERSIZE.y / tilesDown);  // one screen pixel in tile units
    float core = 1.0 - smoothstep(lineWidth * 0.5 - pixel, lineWidth * 0.5 + pixel, distanceToPath);
    float halo = glow * exp(-max(distanceToPath - lineWidth * 0.5, 0.0) * 12.0) * 0.6;
    // the two arcs of a tile take the two colours, swapped on a checker: a path changes
    // colour as it winds through the maze, which reads as woven
    bool oddTile = mod(tile.x + tile.y, 2.0) > 0.5;
    bool lowArc = arcLow < arcHigh;
    vec3 ink = lowArc != oddTile ? colorA.rgb : colorB.rgb;
    gl_FragColor = vec4(backgroundColor.rgb + ink * max(core, halo), 1.0);
}

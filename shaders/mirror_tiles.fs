/*{
    "ISFVSN": "2",
    "DESCRIPTION": "Mirror tiles: the picture repeated as a grid of tiles, every other one mirrored so the seams join, the whole wall sliding slowly.",
    "CREDIT": "live project",
    "CATEGORIES": ["Filter", "Geometry"],
    "INPUTS": [
        {"NAME": "inputImage", "TYPE": "image", "LABEL": "Input"},
        {"NAME": "tilesAcross", "TYPE": "float", "LABEL": "Tiles across", "MIN": 1.0, "MAX": 12.0, "DEFAULT": 3.0},
        {"NAME": "tilesDown", "TYPE": "float", "LABEL": "Tiles down", "MIN": 1.0, "MAX": 12.0, "DEFAULT": 3.0},
        {"NAME": "scrollSpeed", "TYPE": "point2D", "LABEL": "Scroll speed (tiles per second)", "MIN": [-2.0, -2.0], "MAX": [2.0, 2.0], "DEFAULT": [0.1, 0.0]},
        {"NAME": "mirror", "TYPE": "bool", "LABEL": "Mirror every other tile", "DEFAULT": true},
        {"NAME": "gap", "TYPE": "float", "LABEL": "Gap between tiles (fraction of a tile)", "MIN": 0.0, "MAX": 0.3, "DEFAULT": 0.0}
    ]
}*/

// Cost: one texture fetch per pixel.

void main() {
    vec2 grid = isf_FragNormCoord * vec2(tilesAcross, tilesDown) + TIME * scrollSpeed;
    vec2 inTile = fract(grid);
    vec2 mirrored = 1.0 - abs(1.0 - mod(grid, 2.0));  // 0..1..0 over two tiles
    vec2 from = mirror ? mirrored : inTile;
    // a gap shrinks each tile about its centre and leaves black between them
    vec2 shrunk = (from - 0.5) / max(1.0 - gap, 1e-3) + 0.5;
    float inside = step(abs(inTile.x - 0.5), 0.5 - gap * 0.5) * step(abs(inTile.y - 0.5), 0.5 - gap * 0.5);
    vec4 colour = IMG_NORM_PIXEL(inputImage, clamp(shrunk, 0.0, 1.0));
    gl_FragColor = vec4(colour.rgb * inside, 1.0);
}

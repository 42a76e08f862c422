/*{
    "ISFVSN": "2",
    "DESCRIPTION": "Kaleidoscope: the picture is cut into mirrored wedges around a centre, which turns and breathes; outside the picture it is mirrored again, so no edge ever shows.",
    "CREDIT": "live project",
    "CATEGORIES": ["Filter", "Geometry"],
    "INPUTS": [
        {"NAME": "inputImage", "TYPE": "image", "LABEL": "Input"},
        {"NAME": "segments", "TYPE": "float", "LABEL": "Mirror pairs", "MIN": 1.0, "MAX": 16.0, "DEFAULT": 6.0},
        {"NAME": "turnSpeed", "TYPE": "float", "LABEL": "Turn speed (radians per second)", "MIN": -2.0, "MAX": 2.0, "DEFAULT": 0.15},
        {"NAME": "zoom", "TYPE": "float", "LABEL": "Zoom", "MIN": 0.25, "MAX": 4.0, "DEFAULT": 1.0},
        {"NAME": "sourceOffset", "TYPE": "point2D", "LABEL": "Where in the picture the wedge looks (0..1)", "MIN": [0.0, 0.0], "MAX": [1.0, 1.0], "DEFAULT": [0.5, 0.5]},
        {"NAME": "centre", "TYPE": "point2D", "LABEL": "Centre on screen (0..1)", "MIN": [0.0, 0.0], "MAX": [1.0, 1.0], "DEFAULT": [0.5, 0.5]}
    ]
}*/

// Cost: one texture fetch per pixel.

void main() {
    float aspect = RENDERSIZE.x / RENDERSIZE.y;
    vec2 offset = (isf_FragNormCoord - centre) * vec2(aspect, 1.0);
    float radius = length(offset) / zoom;
    float wedge = 3.14159265 / floor(segments);
    float angle = atan(offset.y, offset.x) + TIME * turnSpeed;
    // fold the angle into one wedge, mirrored every other wedge so the seams match
    angle = abs(mod(angle, 2.0 * wedge) - wedge);
    vec2 from = sourceOffset + vec2(cos(angle), sin(angle)) * radius / vec2(aspect, 1.0);
    from = 1.0 - abs(1.0 - mod(from, 2.0));  // mirrored repeat beyond the picture's edges
    gl_FragColor = IMG_NORM_PIXEL(inputImage, from);
}

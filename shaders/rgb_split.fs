/*{
    "ISFVSN": "2",
    "DESCRIPTION": "RGB split / chromatic aberration: red and blue are pulled apart along a direction (or outward from the centre, like a cheap lens), with an optional wobble.",
    "CREDIT": "live project",
    "CATEGORIES": ["Filter", "Glitch"],
    "INPUTS": [
        {"NAME": "inputImage", "TYPE": "image", "LABEL": "Input"},
        {"NAME": "amount", "TYPE": "float", "LABEL": "Split (fraction of width)", "MIN": 0.0, "MAX": 0.05, "DEFAULT": 0.008, "IDENTITY": 0.0},
        {"NAME": "direction", "TYPE": "float", "LABEL": "Direction (radians)", "MIN": 0.0, "MAX": 6.2832, "DEFAULT": 0.0},
        {"NAME": "radial", "TYPE": "float", "LABEL": "Radial (lens) mix", "MIN": 0.0, "MAX": 1.0, "DEFAULT": 0.0},
        {"NAME": "wobbleSpeed", "TYPE": "float", "LABEL": "Wobble speed (Hz)", "MIN": 0.0, "MAX": 8.0, "DEFAULT": 0.0}
    ]
}*/

// Cost: three texture fetches per pixel (one per channel).

void main() {
    vec2 uv = isf_FragNormCoord;
    float aspect = RENDERSIZE.x / RENDERSIZE.y;
    float wobble = wobbleSpeed > 0.0 ? 0.6 + 0.4 * sin(TIME * wobbleSpeed * 6.2832) : 1.0;
    vec2 linear = vec2(cos(direction), sin(direction) * aspect);
    vec2 outward = (uv - 0.5) * 2.0;  // zero at the centre, strongest in the corners
    vec2 offset = mix(linear, outward, radial) * amount * wobble;
    vec4 centre = IMG_NORM_PIXEL(inputImage, uv);
    float red = IMG_NORM_PIXEL(inputImage, clamp(uv + offset, 0.0, 1.0)).r;
    float blue = IMG_NORM_PIXEL(inputImage, clamp(uv - offset, 0.0, 1.0)).b;
    gl_FragColor = vec4(red, centre.g, blue, centre.a);
}

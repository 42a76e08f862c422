/*{
    "ISFVSN": "2",
    "DESCRIPTION": "Posterize with crisp edges: each channel snaps to a few flat levels and the borders between bands are drawn as ink outlines, turning a soft picture into a screen print.",
    "CREDIT": "live project",
    "CATEGORIES": ["Filter", "Stylize"],
    "INPUTS": [
        {"NAME": "inputImage", "TYPE": "image", "LABEL": "Input"},
        {"NAME": "levels", "TYPE": "float", "LABEL": "Levels per channel", "MIN": 2.0, "MAX": 12.0, "DEFAULT": 4.0},
        {"NAME": "saturationBoost", "TYPE": "float", "LABEL": "Saturation boost", "MIN": 0.0, "MAX": 2.0, "DEFAULT": 1.3},
        {"NAME": "outlineAmount", "TYPE": "float", "LABEL": "Outline amount", "MIN": 0.0, "MAX": 1.0, "DEFAULT": 0.8},
        {"NAME": "outlineColor", "TYPE": "color", "LABEL": "Outline colour", "DEFAULT": [0.0, 0.0, 0.0, 1.0]},
        {"NAME": "amount", "TYPE": "float", "LABEL": "Amount", "MIN": 0.0, "MAX": 1.0, "DEFAULT": 1.0, "IDENTITY": 0.0}
    ]
}*/

// Cost: one texture fetch per pixel. The outlines come from fwidth() of the band index
// (the GPU's 2x2 pixel quads), so finding the band borders costs no extra fetches.

void main() {
    vec4 source = IMG_THIS_NORM_PIXEL(inputImage);
    float grey = dot(source.rgb, vec3(0.2126, 0.7152, 0.0722));
    vec3 vivid = clamp(mix(vec3(grey), source.rgb, saturationBoost), 0.0, 1.0);
    float steps = floor(levels);
    vec3 band = floor(vivid * steps * 0.9999);
    vec3 flat_ = band / max(steps - 1.0, 1.0);
    // a band index that changes inside the 2x2 quad marks a border
    float border = clamp(dot(fwidth(band), vec3(1.0)), 0.0, 1.0);
    vec3 inked = mix(flat_, outlineColor.rgb, border * outlineAmount);
    gl_FragColor = vec4(mix(source.rgb, inked, amount), source.a);
}
